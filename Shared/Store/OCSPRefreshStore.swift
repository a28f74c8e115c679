import Foundation
import Logging
import PostgresNIO

/// A serial whose pre-signed response is missing, near its nextUpdate, or
/// built from an older revocation state.
public struct OCSPRefreshCandidate: Sendable {
    public var issuerID: String
    public var serialHex: String
    public var hashAlgorithm: String
    public var generation: Int
    public var state: OCSPCertificateState
}

/// Which certificates one refresh batch looks at.
public enum OCSPRefreshScope: Sendable, Equatable {
    /// What changed: rows whose nextUpdate is within the margin (`next_update`
    /// index), serials with a revocation change above `revocationsAfter`
    /// (`change_seq` index), certificates issued or revoked with `created_at`
    /// after `createdAfter` (`status, created_at` index). Work grows with the
    /// change, not with the number of certificates.
    case incremental(revocationsAfter: Int64, createdAfter: Date)
    /// Every certificate, one page in (issuer_id, serial_hex) order after
    /// `after` (nil: the first page, which also drops the rows of deleted,
    /// failed or expired certificates). Catches what the incremental reads
    /// cannot see: a change_seq committed out of order, a missing row of an
    /// old certificate, the cold start.
    case sweep(after: OCSPSweepCursor?)
}

/// Where a full sweep resumes: the last certificate key of the previous page.
public struct OCSPSweepCursor: Sendable, Equatable {
    public var issuerID: String
    public var serialHex: String
}

/// What one refresh batch did.
public struct OCSPRefreshOutcome: Sendable {
    public var candidates: Int
    public var signed: Int
    /// Sweep only: where the next page starts; nil once the last page is done.
    public var next: OCSPSweepCursor?
    /// Highest revocation change_seq and the database clock when the batch
    /// started: the watermark the next incremental tick starts from.
    public var revocationHighWater: Int64
    public var startedAt: Date
}

extension OCSPStore {
    /// One refresh batch under a cluster-wide advisory lock (one replica
    /// refreshes at a time; the others skip this tick). `sign` turns the
    /// candidates (at most `limit`) into rows, which are written in the same
    /// transaction. Returns nil when another replica holds the lock.
    public func refreshBatch(
        _ scope: OCSPRefreshScope, margin: Duration, limit: Int,
        sign: @Sendable ([OCSPRefreshCandidate]) async throws -> [OCSPStoredResponse]
    ) async throws -> OCSPRefreshOutcome? {
        let logger = self.logger
        let margin = Double(margin.components.seconds)
        return try await client.transaction(logger: logger) { connection in
            let header = try await connection.query("""
                SELECT pg_try_advisory_xact_lock(7236001), now(),
                       (SELECT COALESCE(max(change_seq), 0) FROM certificate_revocations)::bigint
                """, logger: logger)
            var started: (locked: Bool, at: Date, seq: Int64) = (false, Date(), 0)
            for try await value in header.decode((Bool, Date, Int64).self) { started = value }
            guard started.locked else { return nil }
            // Past nextUpdate: can no longer be served (an index range; expired certificates' rows end here too).
            try await connection.query("DELETE FROM ocsp_response_cache WHERE next_update < now()", logger: logger)
            var outcome = OCSPRefreshOutcome(candidates: 0, signed: 0, next: nil, revocationHighWater: started.seq,
                                             startedAt: started.at)
            var candidates: [OCSPRefreshCandidate]
            switch scope {
            case .incremental(let revocationsAfter, let createdAfter):
                candidates = try await Self.changedCandidates(revocationsAfter: revocationsAfter, createdAfter: createdAfter,
                                                              margin: margin, limit: limit, on: connection, logger: logger)
            case .sweep(let after):
                if after == nil { try await Self.deleteOrphans(on: connection, logger: logger) }
                let page = try await Self.sweepPage(after: after, size: max(1, limit / 2), margin: margin,
                                                    on: connection, logger: logger)
                outcome.next = page.full ? page.last : nil
                candidates = page.candidates
            }
            outcome.candidates = candidates.count
            guard !candidates.isEmpty else { return outcome }
            let signed = try await sign(candidates)
            try await Self.upsertBatch(signed, on: connection, logger: logger)
            outcome.signed = signed.count
            return outcome
        }
    }

    /// Writes a batch of signed rows in one statement (a cold sweep writes
    /// 2 M of them: one round trip per row would dominate it). A key given
    /// twice keeps its last row, as one upsert per row would.
    static func upsertBatch(_ responses: [OCSPStoredResponse], on connection: PostgresConnection, logger: Logger) async throws {
        var byKey: [String: OCSPStoredResponse] = [:]
        for r in responses { byKey["\(r.issuerID)/\(r.serialHex)/\(r.hashAlgorithm)"] = r }
        let rows = Array(byKey.values)
        guard !rows.isEmpty else { return }
        try await connection.query("""
            INSERT INTO ocsp_response_cache (issuer_id, serial_hex, hash_algorithm, cert_status, response_der,
                this_update, next_update, produced_at, issuer_generation, revocation_seq)
            SELECT u.issuer_id, u.serial_hex, u.alg, u.status, u.der, u.this_update, u.next_update, now(), u.generation,
                   CASE WHEN u.has_seq THEN u.seq END
            FROM unnest(\(rows.map(\.issuerID))::text[], \(rows.map(\.serialHex))::text[], \(rows.map(\.hashAlgorithm))::text[],
                        \(rows.map(\.certStatus))::text[], \(rows.map { ByteBuffer(bytes: $0.responseDER) })::bytea[],
                        \(rows.map(\.thisUpdate))::timestamptz[], \(rows.map(\.nextUpdate))::timestamptz[],
                        \(rows.map(\.generation))::bigint[], \(rows.map { $0.revocationSeq ?? 0 })::bigint[],
                        \(rows.map { $0.revocationSeq != nil })::boolean[])
                AS u(issuer_id, serial_hex, alg, status, der, this_update, next_update, generation, seq, has_seq)
            ON CONFLICT (issuer_id, serial_hex, hash_algorithm) DO UPDATE SET
                cert_status = EXCLUDED.cert_status, response_der = EXCLUDED.response_der,
                this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, produced_at = now(),
                issuer_generation = EXCLUDED.issuer_generation, revocation_seq = EXCLUDED.revocation_seq
            """, logger: logger)
    }
}
