import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Moves key generations through their lives: a pending generation with its
/// certificate becomes active when its time comes (the previous one
/// retires); a retired generation is archived once every certificate it
/// issued has been expired for the grace period. The signer alone does
/// this, so its keyring and the database agree; every step is audited.
struct GenerationLifecycle: Service {
    let store: IssuerGenerationStore
    let keyring: IssuerKeyring
    let grace: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            await runOnce()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pass; errors are logged (the next pass retries).
    func runOnce() async {
        do {
            let changes = try await store.activateDue(actor: "signer") + store.archiveDue(grace: grace, actor: "signer")
            keyring.apply(changes)
            for change in changes {
                logger.notice("issuer key generation \(change.status.rawValue)", metadata: [
                    "issuer_id": "\(change.issuerID)", "generation": "\(change.generation)",
                ])
                Counter(label: "certctl_signer_generation_transitions_total", dimensions: [("to", change.status.rawValue)]).increment()
            }
        } catch {
            logger.warning("cannot advance key generations", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
        }
    }
}
