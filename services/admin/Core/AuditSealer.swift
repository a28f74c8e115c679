import CertctlConfig
import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Seals committed audit rows into the hash chain about once a second
/// (docs/audit.md), publishes the head as `certctl_audit_chain_head_seq` and
/// `certctl_audit_unsealed_events`, and logs the head with its hash every
/// CERTCTL_AUDIT_HEAD_EXPORT_INTERVAL so an operator can anchor it elsewhere.
/// Every admin replica runs one; the database lets one seal at a time.
struct AuditSealer: Service {
    let chain: AuditChain
    let headExportInterval: Duration
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        var lastExport: ContinuousClock.Instant?
        while !Task.isCancelledOrShuttingDown {
            do {
                try await chain.sealAll()
                let head = try await chain.head()
                Gauge(label: "certctl_audit_chain_head_seq").record(head.seq)
                Gauge(label: "certctl_audit_unsealed_events").record(head.unsealed)
                if lastExport.map({ ContinuousClock.now - $0 >= headExportInterval }) ?? true {
                    logger.info("audit chain head", metadata: [
                        "seq": "\(head.seq)", "hash": "\(Hex.string(head.hash))",
                        "sealed_at": "\(ISO8601DateFormatter().string(from: head.sealedAt))"])
                    lastExport = .now
                }
            } catch {
                logger.debug("cannot seal the audit chain", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
