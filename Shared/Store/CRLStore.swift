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

    /// Records an attempt on its own (failures: the generation's transaction rolled back).
    public func record(_ event: CRLGenerationEvent) async throws {
        try await client.query(CRLGenerationEvent.insert(event), logger: logger)
    }
}

extension CRLGenerationEvent {
    static func insert(_ event: CRLGenerationEvent) -> PostgresQuery {
        """
        INSERT INTO crl_generation_events
            (issuer_id, issuer_generation, trigger, started_at, succeeded, error, duration_ms, revoked_count, crl_number)
        VALUES (\(event.issuerID), \(event.generation), \(event.trigger), \(event.startedAt), \(event.succeeded),
                \(event.error), \(event.durationMilliseconds), \(event.revokedCount), \(event.crlNumber)::numeric)
        """
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
        /// thisUpdate of the last CRL the signer signed for the issuer (issuers.last_crl_this_update):
        /// entries of certificates that expired before it were on a CRL once more and are left out.
        public var lastSignedThisUpdate: Date?
        /// At most this many entries go on the next CRL: the cached CRL's count plus one per
        /// revocation change since, or (no cache row) the issuer's revocation rows.
        public var expectedEntriesUpperBound: Int
    }

    public func start() async throws -> Start {
        let rows = try await connection.query("""
            SELECT (GREATEST(i.last_crl_number, COALESCE(c.crl_number, 0)) + 1)::text,
                   COALESCE((SELECT max(change_seq) FROM certificate_revocations WHERE issuer_id = i.id), 0),
                   c.covered_change_seq, c.this_update, c.issuer_generation, i.last_crl_this_update,
                   CASE WHEN c.revoked_count IS NULL
                        THEN (SELECT count(*) FROM certificate_revocations WHERE issuer_id = i.id)
                        ELSE c.revoked_count + GREATEST(0, (SELECT count(*) FROM certificate_revocations
                                                            WHERE issuer_id = i.id AND change_seq > c.covered_change_seq))
                   END
            FROM issuers i LEFT JOIN crl_cache c ON c.issuer_id = i.id
                AND c.issuer_generation = (SELECT generation FROM issuer_generations WHERE issuer_id = i.id AND status = 'active')
            WHERE i.id = \(issuerID)
            """, logger: logger)
        for try await (number, latest, covered, thisUpdate, generation, lastSigned, revoked)
            in rows.decode((String, Int64, Int64?, Date?, Int?, Date?, Int).self) {
            return Start(nextCRLNumber: number, latestChangeSeq: latest, cachedChangeSeq: covered,
                         cachedThisUpdate: thisUpdate, cachedGeneration: generation, lastSignedThisUpdate: lastSigned,
                         expectedEntriesUpperBound: revoked)
        }
        throw CRLStoreError.unknownIssuer(issuerID)
    }

    /// Streams the entries that belong on the CRL: revoked, not released from
    /// hold, not expired before `expiredBefore` (RFC 5280 practice: an entry
    /// stays on one more CRL after its certificate expires) and changed at or
    /// before `cut`, in ascending serial text order — exactly the set and order
    /// the signer digests from its own read before it signs.
    ///
    /// Postgres hands them over in chunks of up to 1,024 text lines
    /// ("serial revoked_at reason invalidity|-", Unix seconds): one reply row
    /// per chunk instead of per entry is what makes a million entries take
    /// about a second instead of ten. The chunks come through a cursor, 64 at
    /// a time: a plain query's rows all arrive at once (the aggregate finishes
    /// first) and postgres-nio buffered about 50 MB of them ahead of the
    /// encoder for a million entries. `each` gets the serial's hex digits in
    /// place (valid only during the call). Runs inside the generation's transaction.
    public func revocations(
        expiredBefore: Date?, cut: Int64,
        _ each: (UnsafeBufferPointer<UInt8>, _ revokedAt: Int64, _ reasonCode: Int, _ invalidityDate: Int64?) throws -> Void
    ) async throws {
        // DECLARE takes no bind parameters: the issuer id is a checked domain value
        // (^[a-z0-9][a-z0-9-]{0,62}$) and the time a number, both safe to inline.
        guard issuerID.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }) else {
            throw CRLStoreError.unknownIssuer(issuerID)
        }
        let expiry = expiredBefore.map {
            "AND (certificate_not_after IS NULL OR certificate_not_after >= to_timestamp(\(Int64($0.timeIntervalSince1970.rounded(.down)))))"
        } ?? ""
        // a cursor is planned for its first rows by default; this one is read to the end
        try await connection.query("SET LOCAL cursor_tuple_fraction = 1.0", logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: """
            DECLARE crl_entries NO SCROLL CURSOR FOR
            SELECT string_agg(line, E'\n' ORDER BY serial_hex COLLATE "C")
            FROM (SELECT serial_hex,
                         serial_hex || ' ' || floor(date_part('epoch', revoked_at))::bigint || ' ' || reason_code
                         || ' ' || COALESCE(floor(date_part('epoch', invalidity_date))::bigint::text, '-') AS line,
                         (row_number() OVER (ORDER BY serial_hex COLLATE "C") - 1) / 1024 AS chunk
                  FROM certificate_revocations
                  WHERE issuer_id = '\(issuerID)' AND hold_released_at IS NULL AND change_seq <= \(cut) \(expiry)) entries
            GROUP BY chunk ORDER BY chunk
            """), logger: logger)
        while true {
            let rows = try await connection.query("FETCH FORWARD 64 FROM crl_entries", logger: logger)
            var fetched = 0
            for try await chunk in rows.decode(ByteBuffer.self) {
                fetched += 1
                try chunk.withUnsafeReadableBytes { raw in
                    try RevocationLines.parse(raw.bindMemory(to: UInt8.self), each)
                }
            }
            if fetched == 0 { break }
        }
        try await connection.query("CLOSE crl_entries", logger: logger)
    }

    /// Records a successful attempt in the generation's transaction, so event
    /// ids follow the order in which CRLs were stored.
    public func record(_ event: CRLGenerationEvent) async throws {
        try await connection.query(CRLGenerationEvent.insert(event), logger: logger)
    }

    /// Upserts the issuer generation's cache row (a trigger tells every publisher, on commit).
    ///
    /// The DER goes over `COPY … FROM STDIN` into a temporary table in pieces
    /// of 512 KiB (as hex text), then moves into crl_cache inside Postgres: a
    /// bound parameter would cost two more whole copies of a large CRL in this
    /// process (the bind buffer and the wire message).
    public func store(generation: Int, der: ByteBuffer, crlNumber: String, thisUpdate: Date, nextUpdate: Date,
                      durationMilliseconds: Int, revokedCount: Int, coveredChangeSeq: Int64) async throws {
        try await connection.query("CREATE TEMPORARY TABLE crl_upload (der bytea NOT NULL) ON COMMIT DROP", logger: logger)
        try await connection.copyFrom(table: "crl_upload", columns: ["der"], logger: logger) { writer in
            try await CRLUploadText.write(der, to: writer)
        }
        try await connection.query("""
            INSERT INTO crl_cache (issuer_id, issuer_generation, crl_der, crl_number, this_update, next_update,
                                   generated_at, generation_duration_ms, revoked_count, covered_change_seq)
            SELECT \(issuerID), \(generation), der, \(crlNumber)::numeric, \(thisUpdate), \(nextUpdate),
                    now(), \(durationMilliseconds), \(revokedCount), \(coveredChangeSeq)
            FROM crl_upload
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

/// Parser of the revocation chunks `CRLGenerationSession.revocations` reads.
enum RevocationLines {
    struct Malformed: Error, CustomStringConvertible {
        let line: String
        var description: String { "malformed revocation line: \(line)" }
    }

    static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>,
        _ each: (UnsafeBufferPointer<UInt8>, Int64, Int, Int64?) throws -> Void
    ) throws {
        var start = 0
        let count = bytes.count
        while start < count {
            var end = start
            while end < count && bytes[end] != 10 { end += 1 }
            try line(UnsafeBufferPointer(rebasing: bytes[start..<end]), each)
            start = end + 1
        }
    }

    static func line(
        _ line: UnsafeBufferPointer<UInt8>, _ each: (UnsafeBufferPointer<UInt8>, Int64, Int, Int64?) throws -> Void
    ) throws {
        var fields: [Range<Int>] = []
        fields.reserveCapacity(4)
        var start = 0
        for index in 0...line.count where index == line.count || line[index] == 32 {
            fields.append(start..<index)
            start = index + 1
        }
        func number(_ range: Range<Int>) -> Int64? {
            guard !range.isEmpty else { return nil }
            var value: Int64 = 0
            var negative = false
            for index in range {
                let c = line[index]
                if index == range.lowerBound && c == 45 { negative = true; continue }
                guard (48...57).contains(c) else { return nil }
                value = value * 10 + Int64(c - 48)
            }
            return negative ? -value : value
        }
        guard fields.count == 4, let revokedAt = number(fields[1]), let reason = number(fields[2]) else {
            throw Malformed(line: String(decoding: line, as: UTF8.self))
        }
        let invalidity: Int64?
        if line[fields[3].lowerBound] == 45 && fields[3].count == 1 {
            invalidity = nil
        } else {
            guard let value = number(fields[3]) else { throw Malformed(line: String(decoding: line, as: UTF8.self)) }
            invalidity = value
        }
        try each(UnsafeBufferPointer(rebasing: line[fields[0]]), revokedAt, Int(reason), invalidity)
    }
}

/// One bytea value in COPY's text format: `\\x` and the hex digits, then a newline.
enum CRLUploadText {
    static let pieceBytes = 512 << 10
    private static let digits = Array("0123456789abcdef".utf8)

    static func write(_ der: ByteBuffer, to writer: PostgresCopyFromWriter) async throws {
        try await writer.write(ByteBuffer(string: "\\\\x"))
        let bytes = der.readableBytesView
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = min(start + pieceBytes, bytes.endIndex)
            var piece = ByteBufferAllocator().buffer(capacity: (end - start) * 2)
            piece.writeWithUnsafeMutableBytes(minimumWritableBytes: (end - start) * 2) { out in
                var index = 0
                for byte in bytes[start..<end] {
                    out[index] = digits[Int(byte >> 4)]
                    out[index + 1] = digits[Int(byte & 0x0f)]
                    index += 2
                }
                return index
            }
            try await writer.write(piece)
            start = end
        }
        try await writer.write(ByteBuffer(string: "\n"))
    }
}
