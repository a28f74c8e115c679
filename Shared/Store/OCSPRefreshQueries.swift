import Foundation
import Logging
import PostgresNIO

/// The reads behind `refreshBatch`. Every one returns the same columns:
/// issuer_id, serial_hex, hash algorithm, issuer_generation and the serial's
/// revocation (reason, time, hold released, change_seq). A candidate is an
/// issued or revoked, unexpired certificate whose row is missing, within the
/// margin of its nextUpdate, or built before its latest revocation change.
extension OCSPStore {
    /// Incremental: revocation changes first (they change answers), then rows
    /// coming due (soonest first), then new certificates; at most `limit`.
    static func changedCandidates(
        revocationsAfter: Int64, createdAfter: Date, margin: Double, limit: Int,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> [OCSPRefreshCandidate] {
        var found: [OCSPRefreshCandidate] = []
        var seen = Set<String>()
        func add(_ rows: PostgresRowSequence) async throws {
            for candidate in try await decode(rows) where found.count < limit {
                if seen.insert("\(candidate.issuerID)/\(candidate.serialHex)/\(candidate.hashAlgorithm)").inserted {
                    found.append(candidate)
                }
            }
        }
        try await add(connection.query("""
            SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation,
                   r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
            FROM certificate_revocations r
            JOIN certificates c ON c.id = r.certificate_id
            CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
            LEFT JOIN ocsp_response_cache o
                ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
            WHERE r.change_seq > \(revocationsAfter)
              AND c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
              AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
                   OR o.next_update < now() + make_interval(secs => \(margin)))
            ORDER BY r.change_seq
            LIMIT \(limit)
            """, logger: logger))
        guard found.count < limit else { return found }
        try await add(connection.query("""
            SELECT c.issuer_id, c.serial_hex, o.hash_algorithm, c.issuer_generation,
                   r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
            FROM ocsp_response_cache o
            JOIN certificates c ON c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
            LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
            WHERE o.next_update < now() + make_interval(secs => \(margin))
              AND c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
            ORDER BY o.next_update
            LIMIT \(limit - found.count)
            """, logger: logger))
        guard found.count < limit else { return found }
        try await add(connection.query("""
            SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation,
                   r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
            FROM certificates c
            CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
            LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
            LEFT JOIN ocsp_response_cache o
                ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
            WHERE c.status IN ('issued', 'revoked') AND c.created_at > \(createdAfter)
              AND c.not_after > now() AND c.issuer_generation IS NOT NULL
              AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
                   OR o.next_update < now() + make_interval(secs => \(margin)))
            LIMIT \(limit - found.count)
            """, logger: logger))
        return found
    }

    /// The next sweep page: `size` certificates after `after` (an index range
    /// over the unique key), its candidates, its last key and whether it was
    /// full (more may follow). One statement, so the page cannot shift between
    /// reading its candidates and its end.
    static func sweepPage(
        after: OCSPSweepCursor?, size: Int, margin: Double, on connection: PostgresConnection, logger: Logger
    ) async throws -> (candidates: [OCSPRefreshCandidate], last: OCSPSweepCursor?, full: Bool) {
        let rows = try await connection.query("""
            WITH page AS MATERIALIZED (
                SELECT id, issuer_id, serial_hex FROM certificates
                WHERE \(after?.issuerID)::text IS NULL OR (issuer_id, serial_hex) > (\(after?.issuerID), \(after?.serialHex))
                ORDER BY issuer_id, serial_hex LIMIT \(size)),
            last AS (
                SELECT issuer_id, serial_hex, (SELECT count(*) FROM page)::bigint AS n FROM page
                ORDER BY issuer_id DESC, serial_hex DESC LIMIT 1),
            candidates AS (
                SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation, r.reason_code, r.revoked_at,
                       r.hold_released_at IS NOT NULL AS released, r.change_seq
                FROM page JOIN certificates c ON c.id = page.id
                CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
                LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
                LEFT JOIN ocsp_response_cache o
                    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
                WHERE c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
                  AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
                       OR o.next_update < now() + make_interval(secs => \(margin))))
            SELECT last.issuer_id, last.serial_hex, last.n, k.issuer_id, k.serial_hex, k.alg, k.issuer_generation,
                   k.reason_code, k.revoked_at, k.released, k.change_seq
            FROM last LEFT JOIN candidates k ON true
            """, logger: logger)
        var page: (candidates: [OCSPRefreshCandidate], last: OCSPSweepCursor?, full: Bool) = ([], nil, false)
        for try await (lastIssuer, lastSerial, count, issuer, serial, alg, generation, reason, revokedAt, released, seq)
            in rows.decode((String, String, Int64, String?, String?, String?, Int?, Int?, Date?, Bool?, Int64?).self) {
            page.last = OCSPSweepCursor(issuerID: lastIssuer, serialHex: lastSerial)
            page.full = count >= size
            guard let issuer, let serial, let alg, let generation else { continue }
            page.candidates.append(candidate(issuer, serial, alg, generation, reason, revokedAt, released, seq))
        }
        return page
    }

    /// Rows no certificate can use any more: deleted, failed or expired ones
    /// (a scan of the whole table, so only at the start of a full sweep).
    static func deleteOrphans(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            DELETE FROM ocsp_response_cache o WHERE NOT EXISTS (
                SELECT 1 FROM certificates c WHERE c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
                AND c.status IN ('issued', 'revoked') AND c.not_after > now())
            """, logger: logger)
    }

    private static func decode(_ rows: PostgresRowSequence) async throws -> [OCSPRefreshCandidate] {
        var candidates: [OCSPRefreshCandidate] = []
        for try await (issuer, serial, alg, generation, reason, revokedAt, released, seq)
            in rows.decode((String, String, String, Int, Int?, Date?, Bool?, Int64?).self) {
            candidates.append(candidate(issuer, serial, alg, generation, reason, revokedAt, released, seq))
        }
        return candidates
    }

    private static func candidate(
        _ issuer: String, _ serial: String, _ alg: String, _ generation: Int,
        _ reason: Int?, _ revokedAt: Date?, _ released: Bool?, _ seq: Int64?
    ) -> OCSPRefreshCandidate {
        let status: OCSPCertificateState.Status
        if let reason, let revokedAt, released == false { status = .revoked(at: revokedAt, reason: reason) } else { status = .good }
        return OCSPRefreshCandidate(
            issuerID: issuer, serialHex: serial, hashAlgorithm: alg, generation: generation,
            state: OCSPCertificateState(generation: generation, status: status, revocationSeq: seq))
    }
}
