import CertctlConfig
import CertctlStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// What `./scripts/test` provides: a real Postgres server and the built executables.
enum TestEnvironment {
    static let logger: Logger = {
        var logger = Logger(label: "certctl-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// A superuser URL on the throwaway server (`CERTCTL_TEST_DATABASE_URL`).
    static func serverURL() throws -> DatabaseURL {
        let text = ProcessInfo.processInfo.environment["CERTCTL_TEST_DATABASE_URL"]
        return try #require(text.flatMap(DatabaseURL.init(parsing:)),
                            "CERTCTL_TEST_DATABASE_URL is not set: run the tests with ./scripts/test")
    }

    /// Path of a built executable (from `CERTCTL_TEST_BIN_DIR`).
    static func binary(_ name: String) throws -> String {
        let directory = try #require(ProcessInfo.processInfo.environment["CERTCTL_TEST_BIN_DIR"],
                                     "CERTCTL_TEST_BIN_DIR is not set: run the tests with ./scripts/test")
        let path = "\(directory)/\(name)"
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is not built")
        return path
    }

    static func connect(_ url: DatabaseURL) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: try Database.connectionConfiguration(url), id: Int.random(in: 1...1_000_000), logger: logger)
    }

    static func withConnection<T>(_ url: DatabaseURL, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await connect(url)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs `body` with a running pooled client (as services use).
    static func withClient<T: Sendable>(_ url: DatabaseURL, _ body: (DatabaseClient) async throws -> T) async throws -> T {
        let database = Database(url: url, maximumConnections: 4, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            return try await body(database.client)
        }
    }

    /// certctl's database roles on the test server (LOGIN, no password: the test cluster trusts
    /// loopback), created once per test process.
    static let serviceRoles = Task<Void, any Error> {
        try await DatabaseRoles.provisionRoles(
            server: try serverURL(), passwords: Dictionary(uniqueKeysWithValues: DatabaseRoles.all.map { ($0, nil) }), logger: logger)
    }

    /// `url` as service `service`'s own database role.
    static func url(_ url: DatabaseURL, as service: ServiceName) -> DatabaseURL {
        var copy = url
        copy.username = DatabaseRoles.role(for: service)
        copy.password = nil
        return copy
    }

    /// The URL as text for `service`'s child process: it connects as its own role.
    static func urlText(_ url: DatabaseURL, as service: ServiceName) -> String {
        urlText(Self.url(url, as: service))
    }

    /// Runs `body` with a database of its own, dropped afterwards, so tests
    /// run in parallel without seeing each other's rows.
    static func withFreshDatabase<T>(migrated: Bool = false, _ body: (DatabaseURL) async throws -> T) async throws -> T {
        let server = try serverURL()
        try await serviceRoles.value
        let name = "certctl_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await execute("CREATE DATABASE \(name)", server)
        let url = server.with(database: String(name))
        do {
            if migrated {
                try await Migrator(migrations: Migration.bundled()).migrate(url, appliedBy: "tests", logger: logger)
            }
            let result = try await body(url)
            try await execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
            return result
        } catch {
            try? await execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
            throw error
        }
    }

    /// Runs one SQL statement on its own connection.
    static func execute(_ sql: String, _ url: DatabaseURL) async throws {
        _ = try await withConnection(url) { try await $0.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }

    /// Runs statements in order on one connection (so a `SET ROLE` applies to those after it).
    static func execute(_ statements: [String], _ url: DatabaseURL) async throws {
        try await withConnection(url) { connection in
            for sql in statements { _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
        }
    }

    /// The SQLSTATE `sql` fails with, or nil when it succeeds (other errors are thrown).
    static func sqlState(_ sql: String, _ url: DatabaseURL) async throws -> String? {
        do {
            try await execute(sql, url)
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState] ?? "no SQLSTATE: \(DatabaseErrorText.describe(error))"
        }
    }

    /// The single integer result of `sql`.
    static func scalar(_ sql: String, _ url: DatabaseURL) async throws -> Int? {
        try await withConnection(url) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            for try await value in rows.decode(Int.self) { return value }
            return nil
        }
    }

    /// The single text result of `sql`.
    static func text(_ sql: String, _ url: DatabaseURL) async throws -> String? {
        try await withConnection(url) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            for try await value in rows.decode(String?.self) { return value }
            return nil
        }
    }

    /// Names of the tables in the public schema.
    static func tables(_ url: DatabaseURL) async throws -> Set<String> {
        try await withConnection(url) { connection in
            let rows = try await connection.query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'", logger: logger)
            var names = Set<String>()
            for try await name in rows.decode(String.self) { names.insert(name) }
            return names
        }
    }

    /// The URL as text, for a child process's environment.
    static func urlText(_ url: DatabaseURL) -> String {
        "postgres://\(url.username)\(url.password.map { ":\($0)" } ?? "")@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
    }
}
