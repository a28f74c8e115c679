import Foundation

/// A parsed `postgres://user:password@host:port/database?sslmode=…` URL.
public struct DatabaseURL: Equatable, Sendable {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// Unix-socket directory, from `?host=/path` (libpq convention).
    public var socketDirectory: String?
    /// PEM CA certificates to verify the server with, from `?sslrootcert=/path` (libpq
    /// convention); without it TLS verifies against the system's trust store.
    public var rootCertificatePath: String?

    public init?(parsing text: String) {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else { return nil }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last })
        let host = components.host ?? ""
        socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        rootCertificatePath = query["sslrootcert"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        guard !host.isEmpty || socketDirectory != nil else { return nil }
        self.host = host.isEmpty ? "localhost" : host
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { return nil }
        guard let user = components.user, !user.isEmpty else { return nil }
        username = user
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else { return nil }
        database = path
        let mode = query["sslmode"] ?? "prefer"
        switch mode {
        case "disable": tlsMode = .disable
        case "allow", "prefer": tlsMode = .prefer
        case "require", "verify-ca", "verify-full": tlsMode = .require
        default: return nil
        }
    }

    /// The same server and credentials, another database (tests, admin tasks).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The URL with the password masked, for log lines.
    public var redacted: String {
        let credentials = password == nil ? username : "\(username):***"
        return "postgres://\(credentials)@\(host):\(port)/\(database)"
    }
}
