import CertctlRuntime
import CertctlStore
import Logging
import Metrics
import ServiceLifecycle

/// Second line behind LISTEN/NOTIFY: once a second, read the revocation log
/// (certificate_revocations.change_seq) past the highest change seen and
/// evict those serials from memory. It bounds how long memory can say `good`
/// after a revocation whose NOTIFY was lost (a LISTEN connection that died
/// silently, or the gap before a reconnect) to about a second.
///
/// On a hot standby (StandbyMode.swift) it is the only invalidation: it polls
/// every StandbyState.pollInterval there, and memory answers only while its
/// last successful poll is recent.
///
/// change_seq is taken when a revocation is written, not when it commits, so
/// a slow transaction can commit below the high-water mark: each poll looks
/// back `overlap` sequence numbers and evicts only changes not seen before.
struct RevocationPoller: Service {
    let core: OCSPResponderCore
    let interval: Duration
    let logger: Logger
    static let overlap: Int64 = 64

    func run() async throws {
        var highWater: Int64?
        var seen: Set<Int64> = []
        while !Task.isCancelledOrShuttingDown {
            do {
                if let mark = highWater {
                    let changes = try await core.store.revocationChanges(after: max(0, mark - Self.overlap))
                    for change in changes where !seen.contains(change.seq) {
                        seen.insert(change.seq)
                        core.cache.evict(issuerID: change.issuerID, serialHex: change.serialHex)
                        Counter(label: "certctl_ocsp_revocation_polled_total").increment()
                    }
                    let newMark = max(mark, changes.last?.seq ?? mark)
                    seen = seen.filter { $0 > newMark - Self.overlap }
                    highWater = newMark
                } else {
                    // start from now: memory is empty at start and dropped on every LISTEN (re)subscription
                    let mark = try await core.store.revocationHighWater()
                    highWater = mark
                    seen = Set(try await core.store.revocationChanges(after: max(0, mark - Self.overlap)).map(\.seq))
                }
                core.standby.recordPoll()
            } catch {
                logger.debug("revocation poll failed", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            let pause = core.standby.role.isStandby ? StandbyState.pollInterval : interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }
}
