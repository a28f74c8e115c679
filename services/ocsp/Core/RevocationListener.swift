import CertctlConfig
import CertctlRuntime
import CertctlStore
import Logging
import Metrics
import ServiceLifecycle

/// Keeps this replica's memory cache honest: a revocation NOTIFY evicts that
/// serial. While LISTEN is lost, RevocationPoller still evicts revoked serials
/// within about a second (as long as the pool reaches Postgres), and memory
/// keeps answering, also when Postgres is down altogether; when LISTEN is back
/// the whole memory cache is marked stale (notifications sent meanwhile are
/// lost): each serial is answered from Postgres again, stale entries serve
/// only while Postgres cannot be asked.
///
/// On a hot standby LISTEN is refused ("cannot execute LISTEN during
/// recovery"): the listener waits until the database is a primary (at start
/// or after a promotion) and meanwhile opens the readiness gate once the
/// revocation poller has polled, which then invalidates memory alone.
struct RevocationListener: Service {
    let url: DatabaseURL
    let core: OCSPResponderCore
    let readiness: ReadinessMonitor
    let logger: Logger
    static let gate = "revocation LISTEN"

    func run() async throws {
        readiness.close(Self.gate)
        while core.standby.role.current != .primary {
            guard !Task.isCancelledOrShuttingDown else { return }
            if core.standby.memoryMayAnswer { readiness.open(Self.gate) }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(100)) }
        }
        let listener = NotificationListener(url: url, channel: NotifyChannel.revocations, logger: logger)
        let core = self.core
        let readiness = self.readiness
        let logger = self.logger
        try await listener.withEvents { events in
            try await cancelWhenGracefulShutdown {
                for await event in events {
                    switch event {
                    case .subscribed:
                        core.cache.clear()
                        core.listening.store(true, ordering: .releasing)
                        readiness.open(Self.gate)
                    case .resync:
                        core.cache.markStale()
                        core.listening.store(true, ordering: .releasing)
                        // Postgres answers again: let readiness reopen the pool now, not at its next tick
                        readiness.recheckSoon()
                        Counter(label: "certctl_ocsp_listen_resyncs_total").increment()
                        logger.notice("revocation LISTEN re-established: memory cache marked stale")
                    case .notification(let payload):
                        let parts = payload.split(separator: ":", maxSplits: 1)
                        if parts.count == 2 {
                            core.cache.evict(issuerID: String(parts[0]), serialHex: String(parts[1]))
                        } else {
                            core.cache.clear()
                        }
                        Counter(label: "certctl_ocsp_revocation_notifications_total").increment()
                    }
                }
            }
        }
    }
}
