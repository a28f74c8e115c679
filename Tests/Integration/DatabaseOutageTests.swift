import CertctlRuntime
import CertctlStore
import Foundation
import PostgresNIO
import ServiceLifecycle
import Testing

/// A database that goes away and comes back, as the readiness monitor and
/// the pool see it. The outage is a role that may no longer log in (SQLSTATE
/// 28000) with its sessions terminated: to the process that is Postgres being
/// unreachable, without stopping the shared test server.
@Suite("Postgres outage: fail fast, fresh pool on return", .timeLimit(.minutes(2)))
struct DatabaseOutageTests {
    let logger = TestEnvironment.logger

    @Test("while Postgres is unreachable queries fail at once; once it is back the process is ready within 2 s")
    func outageAndReturn() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let role = "certctl_t_outage_" + UUID().uuidString.lowercased().prefix(8)
            try await TestEnvironment.execute([
                "CREATE ROLE \(role) LOGIN SUPERUSER",
            ], url)
            var asRole = url
            asRole.username = role
            asRole.password = nil
            let database = Database(url: asRole, maximumConnections: 4, logger: logger)
            let readiness = ReadinessMonitor(database: database, migrator: Migrator(migrations: try Migration.bundled()), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await readiness.run() }
                defer { group.cancelAll() }
                try await eventually("ready at start") { readiness.current == .ready }

                // Outage: no new sessions for the role, its open ones killed.
                try await TestEnvironment.execute([
                    "ALTER ROLE \(role) NOLOGIN",
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'",
                ], url)
                try await eventually("not ready, database unreachable") {
                    if case .notReady(let reason) = readiness.current { return reason.contains("unreachable") }
                    return false
                }
                #expect(!database.client.isAvailable)
                let started = ContinuousClock.now
                await #expect(throws: DatabaseUnavailable.self) { try await database.client.query("SELECT 1", logger: logger) }
                #expect(started.duration(to: .now) < .milliseconds(100), "fails at once instead of queueing")
                // Long enough for postgres-nio's own backoff to have grown past several seconds.
                try await Task.sleep(for: .seconds(12))

                try await TestEnvironment.execute("ALTER ROLE \(role) LOGIN", url)
                let back = ContinuousClock.now
                try await eventually("ready again") { readiness.current == .ready }
                let took = back.duration(to: .now)
                #expect(took < .seconds(2), "ready \(took) after Postgres accepted connections again")
                let one = try await database.client.query("SELECT 1", logger: logger).collect().first?.decode(Int.self)
                #expect(one == 1)
            }
            try await TestEnvironment.execute("DROP ROLE IF EXISTS \(role)", try TestEnvironment.serverURL())
        }
    }

    private func eventually(_ what: String, within limit: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("not within \(limit): \(what)")
        throw CancellationError()
    }
}
