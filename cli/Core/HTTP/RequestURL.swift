import Foundation

/// The parts of an http(s) URL the client needs.
struct RequestURL: Sendable, Equatable {
    let isTLS: Bool
    let host: String
    let port: Int
    /// Path and query, percent-encoded as given ("/" when empty).
    let target: String

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { throw CLIError.usage("\(text) is not an http:// or https:// URL") }
        isTLS = scheme == "https"
        // URLComponents keeps the brackets of an IPv6 literal on some platforms
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (isTLS ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    /// `base` (which may have a path prefix) joined with an API path and query.
    static func join(_ base: String, _ path: String, query: [(String, String)] = []) throws -> RequestURL {
        var components = URLComponents()
        components.queryItems = query.isEmpty ? nil : query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // '+' is a space to many servers' query parsers; spell it out
        let encodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return try RequestURL(trimmed + path + (encodedQuery.map { "?" + $0 } ?? ""))
    }

    var hostIsIPLiteral: Bool { IPLiteral.isLiteral(host) }

    /// The Host header value.
    var authority: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return (isTLS && port == 443) || (!isTLS && port == 80) ? name : "\(name):\(port)"
    }
}

enum IPLiteral {
    static func isLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
