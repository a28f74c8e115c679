import Foundation
import Logging
import NIOCore
import PostgresNIO

/// What a CRL needs to know about its issuer's active key generation.
public struct CRLIssuer: Sendable {
    public var issuerID: String
    public var generation: Int
    public var certificateDER: [UInt8]
    public var subjectDER: [UInt8]
    public var subjectKeyID: [UInt8]
}

/// A `crl_cache` row.
public struct CachedCRL: Sendable {
    public var issuerID: String
    public var generation: Int
    public var der: [UInt8]
    public var crlNumber: String
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var revokedCount: Int
    public var coveredChangeSeq: Int64
}

/// One row of the revocation list as the CRL encoder wants it (Unix seconds).
public struct RevocationRow: Sendable {
    public var serialHex: String
    public var revokedAt: Int64
    public var reasonCode: Int
    public var invalidityDate: Int64?
}

/// A CRL generation attempt, for `crl_generation_events`.
public struct CRLGenerationEvent: Sendable {
    public var issuerID: String
    public var generation: Int?
    public var trigger: String
    public var startedAt: Date
    public var succeeded: Bool
    public var error: String?
    public var durationMilliseconds: Int
    public var revokedCount: Int?
    public var crlNumber: String?

    public init(issuerID: String, generation: Int?, trigger: String, startedAt: Date, succeeded: Bool, error: String?,
                durationMilliseconds: Int, revokedCount: Int?, crlNumber: String?) {
        self.issuerID = issuerID
        self.generation = generation
        self.trigger = trigger
        self.startedAt = startedAt
        self.succeeded = succeeded
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.revokedCount = revokedCount
        self.crlNumber = crlNumber
    }
}

/// CRL state: issuers, the cache, generation events, and the per-issuer lock
/// under which one publisher at a time numbers, builds and stores a CRL.
public struct CRLStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// pg_advisory_xact_lock(classid, objid) namespace of CRL generation ("crl\0").
    static let lockNamespace: Int32 = 0x6372_6c00

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func activeIssuers() async throws -> [CRLIssuer] {
        try await issuers(where: nil)
    }

    public func issuer(_ issuerID: String) async throws -> CRLIssuer? {
        try await issuers(where: issuerID).first
    }

    func issuers(where issuerID: String?) async throws -> [CRLIssuer] {
        let rows = try await client.query("""
            SELECT g.issuer_id, g.generation, g.certificate_der, g.subject_der, g.subject_key_id
            FROM issuer_generations g JOIN issuers i ON i.id = g.issuer_id
            WHERE g.status = 'active' AND i.status = 'active' AND (\(issuerID)::text IS NULL OR g.issuer_id = \(issuerID))
            ORDER BY g.issuer_id
            """, logger: logger)
        var result: [CRLIssuer] = []
        for try await (id, generation, certificate, subject, keyID) in rows.decode((String, Int, ByteBuffer, ByteBuffer, ByteBuffer).self) {
            result.append(CRLIssuer(issuerID: id, generation: generation, certificateDER: Array(buffer: certificate),
                                    subjectDER: Array(buffer: subject), subjectKeyID: Array(buffer: keyID)))
        }
        return result
    }

    /// The cached CRL of the issuer's active generation.
    public func cached(_ issuerID: String) async throws -> CachedCRL? {
        let rows = try await client.query("""
            SELECT c.issuer_generation, c.crl_der, c.crl_number::text, c.this_update, c.next_update, c.revoked_count, c.covered_change_seq
            FROM crl_cache c JOIN issuer_generations g
              ON g.issuer_id = c.issuer_id AND g.generation = c.issuer_generation AND g.status = 'active'
            WHERE c.issuer_id = \(issuerID)
            """, logger: logger)
        for try await (generation, der, number, thisUpdate, nextUpdate, count, covered)
            in rows.decode((Int, ByteBuffer, String, Date, Date, Int, Int64).self) {
            return CachedCRL(issuerID: issuerID, generation: generation, der: Array(buffer: der), crlNumber: number,
                             thisUpdate: thisUpdate, nextUpdate: nextUpdate, revokedCount: count, coveredChangeSeq: covered)
        }
        return nil
    }

    /// Runs `body` holding the issuer's CRL generation lock (released at the
    /// end of the transaction, or when the connection drops). Replicas
    /// therefore number and store their CRLs one at a time.
    public func withGenerationLock<Result: Sendable>(
        _ issuerID: String, _ body: (CRLGenerationSession) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockNamespace), hashtext(\(issuerID)))", logger: logger)
            return try await body(CRLGenerationSession(connection: connection, issuerID: issuerID, logger: logger))
        }
    }

    public func record(_ event: CRLGenerationEvent) async throws {
        try await client.query("""
            INSERT INTO crl_generation_events
                (issuer_id, issuer_generation, trigger, started_at, succeeded, error, duration_ms, revoked_count, crl_number)
            VALUES (\(event.issuerID), \(event.generation), \(event.trigger), \(event.startedAt), \(event.succeeded),
                    \(event.error), \(event.durationMilliseconds), \(event.revokedCount), \(event.crlNumber)::numeric)
            """, logger: logger)
    }
}

/// Database work done while holding one issuer's CRL generation lock.
public struct CRLGenerationSession {
    let connection: PostgresConnection
    public let issuerID: String
    let logger: Logger

    /// The state a new CRL starts from: the next CRL number, the revocation
    /// log's high-water mark, and the cached CRL's coverage and thisUpdate.
    public struct Start: Sendable {
        public var nextCRLNumber: String
        public var latestChangeSeq: Int64
        public var cachedChangeSeq: Int64?
        public var cachedThisUpdate: Date?
        public var cachedGeneration: Int?
    }

    public func start() async throws -> Start {
        let rows = try await connection.query("""
            SELECT (GREATEST(i.last_crl_number, COALESCE(c.crl_number, 0)) + 1)::text,
                   COALESCE((SELECT max(change_seq) FROM certificate_revocations WHERE issuer_id = i.id), 0),
                   c.covered_change_seq, c.this_update, c.issuer_generation
            FROM issuers i LEFT JOIN crl_cache c ON c.issuer_id = i.id
                AND c.issuer_generation = (SELECT generation FROM issuer_generations WHERE issuer_id = i.id AND status = 'active')
            WHERE i.id = \(issuerID)
            """, logger: logger)
        for try await (number, latest, covered, thisUpdate, generation) in rows.decode((String, Int64, Int64?, Date?, Int?).self) {
            return Start(nextCRLNumber: number, latestChangeSeq: latest, cachedChangeSeq: covered,
                         cachedThisUpdate: thisUpdate, cachedGeneration: generation)
        }
        throw CRLStoreError.unknownIssuer(issuerID)
    }

    /// Streams the entries that belong on the CRL: revoked, not released from
    /// hold, and not expired before `expiredBefore` (RFC 5280 practice: an
    /// entry stays on one more CRL after its certificate expires).
    public func revocations(expiredBefore: Date?, _ each: (RevocationRow) throws -> Void) async throws {
        let rows = try await connection.query("""
            SELECT r.serial_hex, extract(epoch FROM r.revoked_at)::bigint, r.reason_code,
                   extract(epoch FROM r.invalidity_date)::bigint
            FROM certificate_revocations r JOIN certificates c ON c.id = r.certificate_id
            WHERE r.issuer_id = \(issuerID) AND r.hold_released_at IS NULL
              AND (\(expiredBefore)::timestamptz IS NULL OR c.not_after IS NULL OR c.not_after >= \(expiredBefore))
            """, logger: logger)
        for try await (serial, revokedAt, reason, invalidity) in rows.decode((String, Int64, Int16, Int64?).self) {
            try each(RevocationRow(serialHex: serial, revokedAt: revokedAt, reasonCode: Int(reason), invalidityDate: invalidity))
        }
    }

    /// Upserts the issuer generation's cache row (a trigger tells every publisher, on commit).
    public func store(generation: Int, der: [UInt8], crlNumber: String, thisUpdate: Date, nextUpdate: Date,
                      durationMilliseconds: Int, revokedCount: Int, coveredChangeSeq: Int64) async throws {
        var buffer = ByteBufferAllocator().buffer(capacity: der.count)
        buffer.writeBytes(der)
        try await connection.query("""
            INSERT INTO crl_cache (issuer_id, issuer_generation, crl_der, crl_number, this_update, next_update,
                                   generated_at, generation_duration_ms, revoked_count, covered_change_seq)
            VALUES (\(issuerID), \(generation), \(buffer), \(crlNumber)::numeric, \(thisUpdate), \(nextUpdate),
                    now(), \(durationMilliseconds), \(revokedCount), \(coveredChangeSeq))
            ON CONFLICT (issuer_id, issuer_generation) DO UPDATE SET
                crl_der = EXCLUDED.crl_der, crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
                next_update = EXCLUDED.next_update, generated_at = EXCLUDED.generated_at,
                generation_duration_ms = EXCLUDED.generation_duration_ms, revoked_count = EXCLUDED.revoked_count,
                covered_change_seq = EXCLUDED.covered_change_seq
            """, logger: logger)
    }
}

public enum CRLStoreError: Error, Equatable, CustomStringConvertible {
    case unknownIssuer(String)

    public var description: String {
        switch self {
        case .unknownIssuer(let id): return "unknown issuer \(id)"
        }
    }
}
