import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Keeps `ocsp_response_cache` pre-signed for every issued, unexpired
/// certificate (SHA-1 and SHA-256 CertIDs), doing work in proportion to what
/// changed: each tick signs the rows coming due within the refresh margin, the
/// serials revoked (or released) since the last tick and the certificates
/// created since then. A full sweep over every certificate runs at start-up
/// (cold cache) and every `fullSweepInterval`, catching what the ticks cannot
/// see (a change_seq committed out of order, a row deleted by hand). One
/// replica at a time (advisory lock); batches until nothing is left, then sleeps.
package struct RefreshLoop: Service {
    let core: OCSPResponderCore
    let interval: Duration
    let fullSweepInterval: Duration
    let batch: Int
    let logger: Logger

    package init(core: OCSPResponderCore, interval: Duration, fullSweepInterval: Duration, batch: Int, logger: Logger) {
        self.core = core
        self.interval = interval
        self.fullSweepInterval = fullSweepInterval
        self.batch = batch
        self.logger = logger
    }

    /// Revocation changes are re-read this far below the watermark: a change_seq
    /// taken earlier may commit after a higher one (as RevocationPoller does).
    static let revocationLookBack: Int64 = 64
    /// Certificates are re-read this far before the last tick: a reservation
    /// is created pending and issued later (reaped as failed after 5 min by default).
    static let creationSlack: TimeInterval = 300

    /// Where the next tick starts.
    package struct Progress {
        /// The full sweep under way (its next page), nil between sweeps.
        package var sweep: Sweep? = Sweep()
        package var lastSweep: ContinuousClock.Instant?
        /// Highest change_seq and database time at the start of the last completed tick or sweep.
        package var watermark: (seq: Int64, at: Date)?

        package init() {}

        package struct Sweep {
            var after: OCSPSweepCursor?
            var started: (seq: Int64, at: Date)?
        }
    }

    package func run() async throws {
        // jitter so that replicas started together do not all wake at once
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int.random(in: 500...2000))) }
        var progress = Progress()
        while !Task.isCancelledOrShuttingDown {
            do {
                let total = try await tick(&progress)
                if total > 0 { logger.info("pre-signed OCSP responses refreshed", metadata: ["count": "\(total)"]) }
            } catch {
                logger.warning("OCSP refresh failed; retrying", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    /// One tick: the full sweep when one is due or under way, the incremental
    /// refresh otherwise. Returns the rows signed. A tick that finds the lock
    /// held by another replica stops and leaves `progress` where it was.
    package func tick(_ progress: inout Progress) async throws -> Int {
        if progress.sweep == nil, progress.lastSweep.map({ $0.duration(to: .now) >= fullSweepInterval }) ?? true {
            progress.sweep = Progress.Sweep()
        }
        var total = 0
        if var sweep = progress.sweep {
            while !Task.isCancelledOrShuttingDown {
                guard let outcome = try await refreshOnce(.sweep(after: sweep.after)) else { break }
                if sweep.started == nil {
                    sweep.started = (outcome.revocationHighWater, outcome.startedAt)
                    progress.lastSweep = .now
                }
                total += outcome.signed
                sweep.after = outcome.next
                progress.sweep = sweep
                if outcome.next == nil {
                    // changes made while the sweep ran are the next tick's
                    progress.watermark = sweep.started
                    progress.sweep = nil
                    logger.info("OCSP full sweep done", metadata: ["signed": "\(total)"])
                    // counting is a scan of the table, so only once per sweep
                    Gauge(label: "certctl_ocsp_stored_responses").record(try await core.store.storedResponseCount())
                    break
                }
            }
            return total
        }
        guard let watermark = progress.watermark else { return 0 }
        let scope = OCSPRefreshScope.incremental(revocationsAfter: watermark.seq - Self.revocationLookBack,
                                                 createdAfter: watermark.at.addingTimeInterval(-Self.creationSlack))
        var started: (seq: Int64, at: Date)?
        while !Task.isCancelledOrShuttingDown {
            guard let outcome = try await refreshOnce(scope) else { return total }
            if started == nil { started = (outcome.revocationHighWater, outcome.startedAt) }
            total += outcome.signed
            if outcome.signed == 0 || outcome.candidates < batch { break }
        }
        progress.watermark = started ?? watermark
        return total
    }

    /// One batch: nil when another replica is refreshing.
    func refreshOnce(_ scope: OCSPRefreshScope) async throws -> OCSPRefreshOutcome? {
        let generations = try await core.directory.allGenerations()
        // Responders first (may call the signer), outside the refresh transaction.
        let responders = Dictionary(generations.map { ("\($0.issuerID)/\($0.generation)", $0) }) { a, _ in a }
        let core = self.core
        return try await core.store.refreshBatch(scope, margin: .seconds(core.margin), limit: batch) { candidates in
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
