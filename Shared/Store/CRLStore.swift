import Foundation
import Logging
import NIOCore
import PostgresNIO

/// What a CRL needs to know about the issuer key generation that signs it.
/// Every generation has its own CRL (its own URL and numbers).
public struct CRLIssuer: Sendable {
    public var issuerID: String
    public var generation: Int
    public var status: GenerationStatus
    public var certificateDER: [UInt8]
    public var subjectDER: [UInt8]
    public var subjectKeyID: [UInt8]
    /// The CA certificate's notAfter: an archived generation's final CRL is valid until then.
    public var notAfter: Date
    /// Archived: its last CRL is final (nothing of it is unexpired), signed once.
    public var isFinal: Bool { status == .archived }
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
    let client: DatabaseClient
    let logger: Logger

    /// pg_advisory_xact_lock(classid, objid) namespace of CRL generation ("crl\0").
    static let lockNamespace: Int32 = 0x6372_6c00

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The generations whose CRLs the loop keeps current: active and
    /// retired ones, and archived ones whose final CRL is not signed yet.
    public func liveGenerations() async throws -> [CRLIssuer] {
        try await generations(issuerID: nil, generation: nil, liveOnly: true)
    }

    /// One generation of the issuer (nil: the active one), in any state but pending.
    public func generation(_ issuerID: String, _ generation: Int?) async throws -> CRLIssuer? {
        try await generations(issuerID: issuerID, generation: generation, liveOnly: false).first
    }

    func generations(issuerID: String?, generation: Int?, liveOnly: Bool) async throws -> [CRLIssuer] {
        let rows = try await client.query("""
            SELECT g.issuer_id, g.generation, g.status, g.certificate_der, g.subject_der, g.subject_key_id, g.not_after
            FROM issuer_generations g JOIN issuers i ON i.id = g.issuer_id
            WHERE i.status = 'active' AND g.status <> 'pending'
              AND (\(issuerID)::text IS NULL OR g.issuer_id = \(issuerID))
              AND (CASE WHEN \(generation)::int IS NULL THEN \(liveOnly) OR g.status = 'active' ELSE g.generation = \(generation) END)
              AND (NOT \(liveOnly) OR g.status IN ('active', 'retired') OR NOT EXISTS (
                   SELECT 1 FROM crl_cache c WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                     AND c.next_update >= g.not_after - interval '1 second'))
            ORDER BY g.issuer_id, g.generation
            """, logger: logger)
        var result: [CRLIssuer] = []
        for try await (id, generation, status, certificate, subject, keyID, notAfter)
            in rows.decode((String, Int, String, ByteBuffer, ByteBuffer, ByteBuffer, Date).self) {
            result.append(CRLIssuer(issuerID: id, generation: generation, status: GenerationStatus(rawValue: status) ?? .archived,
                                    certificateDER: Array(buffer: certificate), subjectDER: Array(buffer: subject),
                                    subjectKeyID: Array(buffer: keyID), notAfter: notAfter))
        }
        return result
    }

    /// The cached CRL of one issuer generation.
    public func cached(_ issuerID: String, generation: Int) async throws -> CachedCRL? {
        let rows = try await client.query("""
            SELECT c.issuer_generation, c.crl_der, c.crl_number::text, c.this_update, c.next_update, c.revoked_count, c.covered_change_seq
            FROM crl_cache c
            WHERE c.issuer_id = \(issuerID) AND c.issuer_generation = \(generation)
            """, logger: logger)
        for try await (generation, der, number, thisUpdate, nextUpdate, count, covered)
            in rows.decode((Int, ByteBuffer, String, Date, Date, Int, Int64).self) {
            return CachedCRL(issuerID: issuerID, generation: generation, der: Array(buffer: der), crlNumber: number,
                             thisUpdate: thisUpdate, nextUpdate: nextUpdate, revokedCount: count, coveredChangeSeq: covered)
        }
        return nil
    }

    /// Runs `body` holding the issuer generation's CRL lock (released at the
    /// end of the transaction, or when the connection drops). Replicas
    /// therefore number and store its CRLs one at a time.
    public func withGenerationLock<Result: Sendable>(
        _ issuerID: String, generation: Int, _ body: (CRLGenerationSession) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        let scope = "\(issuerID)/\(generation)"
        return try await client.transaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockNamespace), hashtext(\(scope)))", logger: logger)
            return try await body(CRLGenerationSession(connection: connection, issuerID: issuerID, generation: generation,
                                                       logger: logger))
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
    public let generation: Int
    let logger: Logger

    /// The state a new CRL starts from: the next CRL number, the revocation
    /// log's high-water mark, and the cached CRL's coverage and thisUpdate.
    public struct Start: Sendable {
        public var nextCRLNumber: String
        public var latestChangeSeq: Int64
        public var cachedChangeSeq: Int64?
        public var cachedThisUpdate: Date?
        public var cachedNextUpdate: Date?
        public var cachedGeneration: Int?
        /// thisUpdate of the last CRL the signer signed for the generation (issuer_generations.last_crl_this_update):
        /// entries of certificates that expired before it were on a CRL once more and are left out.
        public var lastSignedThisUpdate: Date?
        /// At most this many entries go on the next CRL: the cached CRL's count plus one per
        /// revocation change since, or (no cache row) the issuer's revocation rows.
        public var expectedEntriesUpperBound: Int
    }

    public func start() async throws -> Start {
        let rows = try await connection.query("""
            SELECT (GREATEST(g.last_crl_number, COALESCE(c.crl_number, 0)) + 1)::text,
                   COALESCE((SELECT max(change_seq) FROM certificate_revocations
                             WHERE issuer_id = g.issuer_id AND issuer_generation = g.generation), 0),
                   c.covered_change_seq, c.this_update, c.next_update, c.issuer_generation, g.last_crl_this_update,
                   CASE WHEN c.revoked_count IS NULL
                        THEN (SELECT count(*) FROM certificate_revocations
                              WHERE issuer_id = g.issuer_id AND issuer_generation = g.generation)
                        ELSE c.revoked_count + GREATEST(0, (SELECT count(*) FROM certificate_revocations
                                                            WHERE issuer_id = g.issuer_id AND issuer_generation = g.generation
                                                              AND change_seq > c.covered_change_seq))
                   END
            FROM issuer_generations g LEFT JOIN crl_cache c ON c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
            WHERE g.issuer_id = \(issuerID) AND g.generation = \(generation)
            """, logger: logger)
        for try await (number, latest, covered, thisUpdate, nextUpdate, generation, lastSigned, revoked)
            in rows.decode((String, Int64, Int64?, Date?, Date?, Int?, Date?, Int).self) {
            return Start(nextCRLNumber: number, latestChangeSeq: latest, cachedChangeSeq: covered,
                         cachedThisUpdate: thisUpdate, cachedNextUpdate: nextUpdate, cachedGeneration: generation,
                         lastSignedThisUpdate: lastSigned, expectedEntriesUpperBound: revoked)
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
    /// about a second instead of ten. Each chunk is the next 1,024 entries
    /// after the previous chunk's last serial, read in the (issuer_id,
    /// serial_hex COLLATE "C") index's order (a recursive keyset walk): the
    /// former window-function numbering had Postgres sort all entries by chunk
    /// on disk and again within each chunk (3.1 s against 1.0 s for a
    /// million). The chunks come through a cursor, 64 at a time: a plain
    /// query's rows all arrive at once and postgres-nio buffered about 50 MB
    /// of them ahead of the encoder for a million entries. `each` gets the
    /// serial's hex digits in place (valid only during the call); a serial not
    /// above the one before it stops the read (`CRLStoreError.entriesOutOfOrder`).
    /// Runs inside the generation's transaction.
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
        // string_agg takes the rows in the LIMIT subquery's index order (an ORDER BY inside the
        // aggregate would sort each chunk again); the order check below holds the reader to it.
        try await connection.query(PostgresQuery(unsafeSQL: """
            DECLARE crl_entries NO SCROLL CURSOR FOR
            WITH RECURSIVE chunk(last_serial, lines) AS (
                SELECT ''::text COLLATE "C", NULL::text
              UNION ALL
                SELECT next.last_serial, next.lines FROM chunk, LATERAL (
                    SELECT max(serial_hex COLLATE "C") AS last_serial, string_agg(line, E'\n') AS lines
                    FROM (SELECT serial_hex, \(RevocationLines.sql) AS line
                          FROM certificate_revocations
                          WHERE issuer_id = '\(issuerID)' AND serial_hex COLLATE "C" > chunk.last_serial
                            AND issuer_generation = \(generation) AND hold_released_at IS NULL
                            AND change_seq <= \(cut) \(expiry)
                          ORDER BY serial_hex COLLATE "C" LIMIT 1024) entries) next
                WHERE next.last_serial IS NOT NULL
            )
            SELECT lines FROM chunk WHERE lines IS NOT NULL
            """), logger: logger)
        var order = RevocationLines.AscendingSerials()
        while true {
            let rows = try await connection.query("FETCH FORWARD 64 FROM crl_entries", logger: logger)
            var fetched = 0
            for try await chunk in rows.decode(ByteBuffer.self) {
                fetched += 1
                try chunk.withUnsafeReadableBytes { raw in
                    try RevocationLines.parse(raw.bindMemory(to: UInt8.self)) { serial, revokedAt, reason, invalidity in
                        guard order.admit(serial) else { throw CRLStoreError.entriesOutOfOrder(String(decoding: serial, as: UTF8.self)) }
                        try each(serial, revokedAt, reason, invalidity)
                    }
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
    public func store(der: ByteBuffer, crlNumber: String, thisUpdate: Date, nextUpdate: Date,
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
    /// The revocation read returned a serial not above the one before it: the CRL is not built.
    case entriesOutOfOrder(String)

    public var description: String {
        switch self {
        case .unknownIssuer(let id): return "unknown issuer \(id)"
        case .entriesOutOfOrder(let serial): return "revocation entries out of serial order at \(serial)"
        }
    }
}

/// Parser of the revocation chunks `CRLGenerationSession.revocations` reads.
enum RevocationLines {
    /// One certificate_revocations row as a line: the publisher reads these, and the signer
    /// digests the same lines from its own read, so both must use this one expression.
    static let sql = """
        serial_hex || ' ' || floor(date_part('epoch', revoked_at))::bigint || ' ' || reason_code || ' ' \
        || COALESCE(floor(date_part('epoch', invalidity_date))::bigint::text, '-')
        """

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

    /// Each serial (hex text) must sort after the one before it, bytewise (COLLATE "C").
    struct AscendingSerials {
        private var previous: [UInt8] = []

        mutating func admit(_ serial: UnsafeBufferPointer<UInt8>) -> Bool {
            guard previous.isEmpty || previous.lexicographicallyPrecedes(serial) else { return false }
            previous.removeAll(keepingCapacity: true)
            previous.append(contentsOf: serial)
            return true
        }
    }

    static func line(
        _ line: UnsafeBufferPointer<UInt8>, _ each: (UnsafeBufferPointer<UInt8>, Int64, Int, Int64?) throws -> Void
    ) throws {
        // the four space-separated fields, without an array per line (a million lines)
        var fields = (0..<0, 0..<0, 0..<0, 0..<0)
        var found = 0
        var start = 0
        for index in 0...line.count where index == line.count || line[index] == 32 {
            switch found {
            case 0: fields.0 = start..<index
            case 1: fields.1 = start..<index
            case 2: fields.2 = start..<index
            case 3: fields.3 = start..<index
            default: break
            }
            found += 1
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
        guard found == 4, !fields.0.isEmpty, let revokedAt = number(fields.1), let reason = number(fields.2), !fields.3.isEmpty else {
            throw Malformed(line: String(decoding: line, as: UTF8.self))
        }
        let invalidity: Int64?
        if line[fields.3.lowerBound] == 45 && fields.3.count == 1 {
            invalidity = nil
        } else {
            guard let value = number(fields.3) else { throw Malformed(line: String(decoding: line, as: UTF8.self)) }
            invalidity = value
        }
        try each(UnsafeBufferPointer(rebasing: line[fields.0]), revokedAt, Int(reason), invalidity)
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
