import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Keeps `ocsp_response_cache` pre-signed for every issued, unexpired
/// certificate (SHA-1 and SHA-256 CertIDs): signs missing rows, rows within
/// the refresh margin of nextUpdate and rows built before the serial's latest
/// revocation change; drops expired ones. One replica at a time (advisory
/// lock); batches until nothing is left, then sleeps.
struct RefreshLoop: Service {
    let core: OCSPResponderCore
    let interval: Duration
    let batch: Int
    let logger: Logger

    func run() async throws {
        // jitter so that replicas started together do not all wake at once
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int.random(in: 500...2000))) }
        while !Task.isCancelledOrShuttingDown {
            do {
                var total = 0
                while !Task.isCancelledOrShuttingDown, let signed = try await refreshOnce(), signed > 0 {
                    total += signed
                    if signed < batch { break }
                }
                if total > 0 { logger.info("pre-signed OCSP responses refreshed", metadata: ["count": "\(total)"]) }
                Gauge(label: "certctl_ocsp_stored_responses").record(try await core.store.storedResponseCount())
            } catch {
                logger.warning("OCSP refresh failed; retrying", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    /// Signed row count, or nil when another replica is refreshing.
    func refreshOnce() async throws -> Int? {
        let generations = try await core.directory.allGenerations()
        // Responders first (may call the signer), outside the refresh transaction.
        let responders = Dictionary(generations.map { ("\($0.issuerID)/\($0.generation)", $0) }) { a, _ in a }
        let core = self.core
        return try await core.store.refreshBatch(margin: .seconds(core.margin), limit: batch) { candidates in
            var rows: [OCSPStoredResponse] = []
            for candidate in candidates {
                guard let generation = responders["\(candidate.issuerID)/\(candidate.generation)"],
                      let algorithm = OCSPHashAlgorithm(rawValue: candidate.hashAlgorithm),
                      let hashes = generation.hashes[algorithm]
                else { continue }
                let serial = Array(SerialNumber.derBytes(fromCanonicalHex: candidate.serialHex).drop { $0 == 0 })
                let id = OCSPCertID(hashAlgorithm: algorithm, issuerNameHash: hashes.name, issuerKeyHash: hashes.key,
                                    serialNumber: serial)
                let status = OCSPResponderCore.status(candidate.state, generation: candidate.generation)
                let prepared = try await core.sign([(id, status)], generation: generation, nonce: nil)
                rows.append(OCSPStoredResponse(
                    issuerID: candidate.issuerID, serialHex: candidate.serialHex, hashAlgorithm: candidate.hashAlgorithm,
                    generation: candidate.generation, certStatus: status.name, responseDER: prepared.body,
                    thisUpdate: prepared.thisUpdate, nextUpdate: prepared.nextUpdate, revocationSeq: candidate.state.revocationSeq))
            }
            Counter(label: "certctl_ocsp_presigned_total").increment(by: rows.count)
            return rows
        }
    }
}
