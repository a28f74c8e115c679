import CertctlRuntime
import CertctlStore
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// certctl-ocsp on a hot standby (docs/scaling.md): LISTEN is refused and every
/// write fails, so the revocation poll is the only invalidation of memory, the
/// refresh loop does not run and missed answers are not offered to Postgres.
/// The role is probed (`pg_is_in_recovery()`) at start and every second, so a
/// standby promoted to primary gets LISTEN, the refresh loop and shared answers
/// without a restart.
package final class StandbyState: Sendable {
    let role: DatabaseRole
    /// Uptime (ns) of the revocation poller's last successful poll; 0 = never.
    private let lastPoll = Atomic<UInt64>(0)
    /// How often the poller reads the revocation log on a standby (1 s on a primary, where LISTEN comes first).
    static let pollInterval: Duration = .milliseconds(250)
    /// Memory answers on a standby only while the last successful poll is at most this old.
    static let pollFreshness: UInt64 = 1_000_000_000

    package init(role: DatabaseRole = DatabaseRole()) {
        self.role = role
    }

    func recordPoll() {
        lastPoll.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing)
    }

    var pollHealthy: Bool {
        let last = lastPoll.load(ordering: .acquiring)
        return last != 0 && DispatchTime.now().uptimeNanoseconds &- last <= Self.pollFreshness
    }

    /// On a standby, memory may answer while the poller keeps up: a revoked serial is then
    /// evicted within replication lag + `pollInterval` (+ the poll's own round trip).
    var memoryMayAnswer: Bool { role.isStandby && pollHealthy }
}

/// Probes whether the pool's database is a standby, once a second.
struct StandbyMonitor: Service {
    let client: DatabaseClient
    let role: DatabaseRole
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            if let state = try? await DatabaseRole.probe(client, logger: logger), state != .unknown {
                let before = role.set(state)
                if before != state {
                    switch state {
                    case .standby:
                        logger.notice("database is a hot standby: revocation poll only (no LISTEN), no refresh loop, answers not stored", metadata: [
                            "poll_interval": "\(StandbyState.pollInterval)",
                        ])
                    case .primary where before == .standby:
                        logger.notice("database promoted to primary: LISTEN, refresh loop and shared answers resume")
                    default:
                        break
                    }
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
        }
    }
}

/// Runs `service` once the database is known to be a primary (at start, or after a promotion).
struct PrimaryOnly<Inner: Service>: Service {
    let inner: Inner
    let role: DatabaseRole

    func run() async throws {
        while role.current != .primary {
            guard !Task.isCancelledOrShuttingDown else { return }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(250)) }
        }
        try await inner.run()
    }
}
