import CertctlConfig
import Foundation
import Logging
import PostgresNIO

/// The database roles of a certctl deployment: `certctl_owner` owns the
/// schema and runs migrations; each service connects as `certctl_<service>`
/// with the grants of migration 0009 (docs/security.md). Fixed names: the
/// migrations grant to them.
public enum DatabaseRoles {
    public static let owner = "certctl_owner"

    public static func role(for service: ServiceName) -> String { "certctl_\(service.rawValue)" }

    /// The owner first, then one role per service.
    public static var all: [String] { [owner] + ServiceName.allCases.map(role(for:)) }

    public enum ProvisionError: Error, CustomStringConvertible {
        case invalidDatabaseName(String)
        case invalidPassword(role: String)

        public var description: String {
            switch self {
            case .invalidDatabaseName(let name): return "database name \(name) must match ^[a-z][a-z0-9_]{0,62}$"
            case .invalidPassword(let role): return "the password of \(role) must be 16 to 128 of A-Z a-z 0-9 . _ ~ -"
            }
        }
    }

    /// As a superuser on `server` (a URL to any existing database): creates
    /// the roles or updates them (LOGIN; `passwords[role]` set, or removed
    /// where nil — for trust-authenticated test clusters), creates `database`
    /// owned by the owner role when it is missing, lets only certctl's roles
    /// connect to it and gives the owner its public schema. Safe to run again.
    public static func provision(
        server: DatabaseURL, database: String, passwords: [String: String?], logger: Logger
    ) async throws {
        guard database.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw ProvisionError.invalidDatabaseName(database)
        }
        try await withConnection(server, logger: logger) { connection in
            try await provisionRoles(passwords: passwords, on: connection, logger: logger)
            try await provisionDatabase(database, on: connection, logger: logger)
        }
        try await withConnection(server.with(database: database), logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "ALTER SCHEMA public OWNER TO \(owner)"), logger: logger)
        }
    }

    /// Creates or updates the roles only (LOGIN, passwords as `provision`).
    public static func provisionRoles(server: DatabaseURL, passwords: [String: String?], logger: Logger) async throws {
        try await withConnection(server, logger: logger) { connection in
            try await provisionRoles(passwords: passwords, on: connection, logger: logger)
        }
    }

    private static func provisionRoles(passwords: [String: String?], on connection: PostgresConnection, logger: Logger) async throws {
        for role in all {
            if let password = passwords[role] ?? nil,
               password.range(of: "^[A-Za-z0-9._~-]{16,128}$", options: .regularExpression) == nil {
                throw ProvisionError.invalidPassword(role: role)
            }
        }
        for role in all {
            // Names are fixed identifiers and passwords checked above: safe to write into the statement.
            let password = (passwords[role] ?? nil).map { "PASSWORD '\($0)'" } ?? "PASSWORD NULL"
            let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(role)", logger: logger)
                .collect().isEmpty == false
            let verb = exists ? "ALTER" : "CREATE"
            try await connection.query(PostgresQuery(unsafeSQL: "\(verb) ROLE \(role) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \(password)"),
                                       logger: logger)
        }
    }

    private static func provisionDatabase(_ database: String, on connection: PostgresConnection, logger: Logger) async throws {
        let databaseExists = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(database)", logger: logger)
            .collect().isEmpty == false
        if !databaseExists {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database) OWNER \(owner)"), logger: logger)
        }
        try await connection.query(PostgresQuery(unsafeSQL: "REVOKE ALL ON DATABASE \(database) FROM PUBLIC"), logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: "GRANT CONNECT, TEMPORARY ON DATABASE \(database) TO \(all.joined(separator: ", "))"),
                                   logger: logger)
    }

    private static func withConnection(_ url: DatabaseURL, logger: Logger, _ body: (PostgresConnection) async throws -> Void) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try Database.connectionConfiguration(url), id: 1, logger: logger)
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
