import CertctlConfig
import Foundation
import Logging
import PostgresNIO

/// Applies migrations in order, each in its own transaction, while holding a
/// Postgres advisory lock so that several processes starting at once apply
/// each migration exactly once (the others wait, then find nothing to do).
public struct Migrator: Sendable {
    /// Advisory-lock key: ASCII "certctl" + "M".
    public static let lockKey: Int64 = 0x6365_7274_6374_6C4D

    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is pending; returns the migrations applied by this call.
    @discardableResult
    public func migrate(_ url: DatabaseURL, appliedBy: String, logger: Logger) async throws -> [Migration] {
        let connection = try await PostgresConnection.connect(
            configuration: try Database.connectionConfiguration(url), id: 1, logger: logger)
        do {
            let applied = try await migrate(on: connection, appliedBy: appliedBy, logger: logger)
            try await connection.close()
            return applied
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Same, on a connection the caller owns (session-level lock: one connection throughout).
    public func migrate(on connection: PostgresConnection, appliedBy: String, logger: Logger) async throws -> [Migration] {
        logger.info("waiting for migration lock", metadata: ["lock_key": "\(Self.lockKey)"])
        try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
        do {
            let applied = try await applyPending(on: connection, appliedBy: appliedBy, logger: logger)
            try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
            return applied
        } catch {
            // Closing the session would also release the lock; unlock explicitly
            // so a caller that keeps the connection does not hold it.
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
            throw error
        }
    }

    private func applyPending(on connection: PostgresConnection, appliedBy: String, logger: Logger) async throws -> [Migration] {
        // A current schema needs nothing, not even DDL privileges: a service role's start-up check passes.
        let ledger = try await connection.query("SELECT to_regclass('public.schema_migrations') IS NOT NULL", logger: logger)
        for try await exists in ledger.decode(Bool.self) where exists {
            let applied = try await Self.appliedVersions(on: connection, logger: logger)
            try verify(applied: applied)
            if migrations.allSatisfy({ applied[$0.version] != nil }) { return [] }
        }
        do {
            try await connection.query(Self.createLedger, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            let role = try? await connection.query("SELECT current_user::text", logger: logger).collect().first?.decode(String.self)
            throw MigrationError.notSchemaOwner(role: role ?? "this role", error: DatabaseErrorText.describe(error))
        }
        let applied = try await Self.appliedVersions(on: connection, logger: logger)
        try verify(applied: applied)

        var done: [Migration] = []
        for migration in migrations where applied[migration.version] == nil {
            let started = ContinuousClock.now
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in SQLScript.statements(in: migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let elapsed = started.duration(to: .now)
                let milliseconds = elapsed.wholeMilliseconds
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, checksum, applied_by, duration_ms)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum), \(appliedBy), \(milliseconds))
                    """, logger: logger)
                try await connection.query("COMMIT", logger: logger)
                logger.info("applied migration", metadata: [
                    "version": "\(migration.version)", "name": "\(migration.name)", "duration_ms": "\(milliseconds)",
                ])
                done.append(migration)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw MigrationError.failed(
                    version: migration.version, name: migration.name, error: DatabaseErrorText.describe(error))
            }
        }
        return done
    }

    /// Compares the ledger with the shipped migrations without changing anything.
    public func status(_ client: DatabaseClient, logger: Logger) async throws -> SchemaStatus {
        let exists = try await client.query(
            "SELECT to_regclass('public.schema_migrations') IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard exists else { return .pending(migrations.map(\.version)) }
        let applied = try await client.withConnection { try await Self.appliedVersions(on: $0, logger: logger) }
        do {
            try verify(applied: applied)
        } catch {
            return .incompatible(error)
        }
        let pending = migrations.map(\.version).filter { applied[$0] == nil }
        return pending.isEmpty ? .current : .pending(pending)
    }

    private func verify(applied: [Int: (name: String, checksum: String)]) throws(MigrationError) {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        let unknown = applied.keys.filter { known[$0] == nil }.sorted()
        if !unknown.isEmpty { throw .databaseAhead(versions: unknown) }
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) where known[version]?.checksum != record.checksum {
            throw .checksumMismatch(version: version, name: record.name)
        }
    }

    private static func appliedVersions(
        on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int: (name: String, checksum: String)] {
        var result: [Int: (name: String, checksum: String)] = [:]
        let rows = try await connection.query("SELECT version, name, checksum FROM schema_migrations", logger: logger)
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            result[version] = (name, checksum)
        }
        return result
    }

    static let createLedger: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            checksum    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            applied_by  text NOT NULL,
            duration_ms integer NOT NULL
        )
        """
}

/// Where the database schema stands relative to this build.
public enum SchemaStatus: Sendable, Equatable {
    case current
    case pending([Int])
    case incompatible(MigrationError)
}
