import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Publishes each CA key generation's expiry and certificate counts every
/// minute: `certctl_issuer_generation_not_after_seconds{issuer_id,generation,status}`
/// (alert when it is less than a year away) and
/// `certctl_issuer_generation_certificates{issuer_id,generation,status,state}`
/// (state: issued = all it issued, revoked, unexpired).
struct GenerationGauges: Service {
    let store: IssuerGenerationStore
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                for generation in try await store.list() { Self.publish(generation) }
            } catch {
                logger.debug("cannot read key generations for metrics", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    static func publish(_ generation: IssuerGeneration) {
        let labels = [("issuer_id", generation.issuerID), ("generation", "\(generation.generation)"),
                      ("status", generation.status.rawValue)]
        if let notAfter = generation.notAfter {
            Gauge(label: "certctl_issuer_generation_not_after_seconds", dimensions: labels).record(notAfter.timeIntervalSince1970)
        }
        for (state, count) in [("issued", generation.certificates), ("revoked", generation.revoked), ("unexpired", generation.unexpired)] {
            Gauge(label: "certctl_issuer_generation_certificates", dimensions: labels + [("state", state)]).record(count)
        }
    }
}
