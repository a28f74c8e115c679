import CertctlRuntime
import CertctlSignerCore
import CertctlStore
import Foundation
import Testing

@Suite("Signer clock against the database's clock", .timeLimit(.minutes(1)))
struct ClockSkewGuardTests {
    let logger = TestEnvironment.logger

    @Test("the real clocks agree; a skew beyond the bound refuses with clock_skew and makes the signer not ready, until it is back within")
    func skewRefusesAndRecovers() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let database = Database(url: url, maximumConnections: 2, logger: logger)
            let readiness = ReadinessMonitor(database: database, migrator: Migrator(migrations: try Migration.bundled()), logger: logger)
            let clock = ClockSkewGuard(database: database, bound: .seconds(30), readiness: readiness, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await readiness.run() }
                defer { group.cancelAll() }
                while readiness.current != .ready { try await Task.sleep(for: .milliseconds(50)) }

                // Same machine: the measured offset is the round trip's error, far inside the bound.
                try await clock.measure()
                #expect(throws: Never.self) { try clock.check() }
                #expect(readiness.current == .ready)

                clock.record(-120)   // this machine two minutes ahead of the database
                #expect(throws: SigningRefusal.self) { try clock.check() }
                do {
                    try clock.check()
                } catch let refusal as SigningRefusal {
                    #expect(refusal.code == "clock_skew")
                    #expect(refusal.description.contains("120.0 s ahead of the database server's"))
                    #expect(refusal.description.contains("CERTCTL_SIGNER_MAX_CLOCK_SKEW 30s"))
                }
                guard case .notReady(let reason) = readiness.current else {
                    Issue.record("not ready expected, got \(readiness.current)")
                    return
                }
                #expect(reason.contains("clock"))

                clock.record(29)      // behind, but within the bound
                #expect(throws: Never.self) { try clock.check() }
                #expect(readiness.current == .ready)
            }
        }
    }
}
