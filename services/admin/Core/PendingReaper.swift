import CertctlStore
import Logging
import ServiceLifecycle

/// Marks reservations whose signing never completed as `failed`.
struct PendingReaper: Service {
    let certificates: CertificateRecordStore
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                let failed = try await certificates.failStalePending(olderThan: timeout)
                if failed > 0 { logger.warning("marked stale pending certificates failed", metadata: ["count": "\(failed)"]) }
            } catch {
                logger.debug("pending reaper could not run", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(30)) }
        }
    }
}
