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

extension OCSPStore {
    /// One refresh batch under a cluster-wide advisory lock (one replica
    /// refreshes at a time; the others skip this tick). `sign` turns the
    /// candidates into rows, which are written in the same transaction.
    /// Returns nil when another replica holds the lock.
    public func refreshBatch(
        margin: Duration, limit: Int,
        sign: @Sendable ([OCSPRefreshCandidate]) async throws -> [OCSPStoredResponse]
    ) async throws -> Int? {
        let logger = self.logger
        let marginSeconds = Double(margin.components.seconds)
        return try await client.transaction(logger: logger) { connection in
            let lock = try await connection.query("SELECT pg_try_advisory_xact_lock(7236001)", logger: logger)
            var locked = false
            for try await value in lock.decode(Bool.self) { locked = value }
            guard locked else { return nil }
            // Drop what can no longer be served: past nextUpdate, or for expired or unknown certificates.
            try await connection.query("""
                DELETE FROM ocsp_response_cache o WHERE o.next_update < now() OR NOT EXISTS (
                    SELECT 1 FROM certificates c WHERE c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
                    AND c.not_after > now())
                """, logger: logger)
            let rows = try await connection.query("""
                SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation, c.status,
                       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
                FROM certificates c
                CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
                LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
                LEFT JOIN ocsp_response_cache o
                    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
                WHERE c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
                  AND (o.serial_hex IS NULL
                       OR o.next_update < now() + make_interval(secs => \(marginSeconds))
                       OR o.revocation_seq IS DISTINCT FROM r.change_seq)
                LIMIT \(limit)
                """, logger: logger)
            var candidates: [OCSPRefreshCandidate] = []
            for try await (issuer, serial, alg, generation, _, reason, revokedAt, released, seq)
                in rows.decode((String, String, String, Int, String, Int?, Date?, Bool?, Int64?).self) {
                let status: OCSPCertificateState.Status
                if let reason, let revokedAt, released == false { status = .revoked(at: revokedAt, reason: reason) } else { status = .good }
                candidates.append(OCSPRefreshCandidate(
                    issuerID: issuer, serialHex: serial, hashAlgorithm: alg, generation: generation,
                    state: OCSPCertificateState(generation: generation, status: status, revocationSeq: seq)))
            }
            guard !candidates.isEmpty else { return 0 }
            let signed = try await sign(candidates)
            for response in signed { try await Self.upsert(response, on: connection, logger: logger) }
            return signed.count
        }
    }
}
