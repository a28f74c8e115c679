import Crypto
import Foundation
import Logging
import PostgresNIO

/// The hash chain over `audit_events` (migration 0013, docs/audit.md).
/// Postgres seals rows (`audit_seal`); this type asks it to, reads the head,
/// and verifies the chain by recomputing every link itself, so a verifier
/// does not have to trust the database's functions.
public struct AuditChain: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The link before sequence 1.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public struct Head: Sendable, Equatable {
        public var seq: Int64
        public var hash: [UInt8]
        public var sealedAt: Date
        /// Committed rows not sealed yet (sealing runs about once a second).
        public var unsealed: Int64
    }

    /// A link that does not hold.
    public struct Break: Sendable, Equatable {
        public var seq: Int64
        /// The row's id, when the row exists.
        public var id: Int64?
        public var reason: String
    }

    public struct Verification: Sendable {
        public var fromSeq: Int64
        public var checked: Int
        /// Where the next page starts, nil once the head has been reached (or a link broke).
        public var nextSeq: Int64?
        public var headSeq: Int64
        public var firstBroken: Break?
        public var ok: Bool { firstBroken == nil }
    }

    /// Seals up to `maxRows` rows; returns how many (0 also when another sealer holds the head).
    @discardableResult
    public func seal(maxRows: Int = 10_000) async throws -> Int {
        let rows = try await client.query("SELECT audit_seal(\(Int32(clamping: maxRows)))", logger: logger)
        for try await sealed in rows.decode(Int32.self) { return Int(sealed) }
        return 0
    }

    /// Seals until nothing committed is left unsealed (bounded, so a flood cannot hold the caller forever).
    public func sealAll(maxRounds: Int = 100) async throws {
        for _ in 0..<maxRounds {
            guard try await seal() == 10_000 else { return }
        }
    }

    public func head() async throws -> Head {
        let rows = try await client.query("""
            SELECT h.seq, h.hash, h.sealed_at, (SELECT count(*) FROM audit_events WHERE chain_seq IS NULL)
            FROM audit_chain_head h
            """, logger: logger)
        for try await (seq, hash, sealedAt, unsealed) in rows.decode((Int64, ByteBuffer, Date, Int64).self) {
            return Head(seq: seq, hash: Array(buffer: hash), sealedAt: sealedAt, unsealed: unsealed)
        }
        throw AuditChainError.headMissing
    }

    /// Verifies `limit` links from `fromSeq` (1 = the start of the chain). Page after page from 1 to the head
    /// checks the whole chain: each page starts from the stored hash of the link before it, which the
    /// previous page has checked.
    /// `previousHash` stands in for the link before `fromSeq` when that row was archived (docs/audit.md).
    public func verify(fromSeq: Int64, limit: Int, previousHash: [UInt8]? = nil) async throws -> Verification {
        let head = try await head()
        var result = Verification(fromSeq: fromSeq, checked: 0, nextSeq: nil, headSeq: head.seq, firstBroken: nil)
        guard fromSeq <= head.seq else { return result }
        var previous = previousHash ?? Self.genesis
        if fromSeq > 1, previousHash == nil {
            guard let stored = try await storedHash(seq: fromSeq - 1) else {
                result.firstBroken = Break(seq: fromSeq - 1, id: nil, reason: "the row with chain_seq \(fromSeq - 1) is missing")
                return result
            }
            previous = stored
        }
        let rows = try await client.query("""
            SELECT chain_seq, chain_hash, id, (extract(epoch FROM occurred_at) * 1000000)::bigint, service, actor, action,
                   outcome, target_type, target_id, error_code, details::text
            FROM audit_events WHERE chain_seq >= \(fromSeq) AND chain_seq <= \(head.seq)
            ORDER BY chain_seq LIMIT \(limit)
            """, logger: logger)
        var expectedSeq = fromSeq
        for try await (seq, stored, id, micros, service, actor, action, outcome, targetType, targetID, errorCode, details)
            in rows.decode((Int64, ByteBuffer, Int64, Int64, String, String, String, String, String?, String?, String?, String).self) {
            if seq != expectedSeq {
                result.firstBroken = Break(seq: expectedSeq, id: nil,
                                           reason: "the row with chain_seq \(expectedSeq) is missing (deleted)")
                return result
            }
            let canonical = Self.canonical(seq: seq, id: id, occurredMicros: micros, service: service, actor: actor,
                                           action: action, outcome: outcome, targetType: targetType, targetID: targetID,
                                           errorCode: errorCode, detailsJSON: details)
            let computed = Self.link(previous: previous, canonical: canonical)
            guard computed == Array(buffer: stored) else {
                result.firstBroken = Break(seq: seq, id: id,
                                           reason: "row \(id) does not match its link: its content, its hash or an earlier link was changed")
                return result
            }
            previous = computed
            result.checked += 1
            expectedSeq += 1
        }
        let end = fromSeq + Int64(result.checked)
        if result.checked < limit, end <= head.seq {
            // Fewer rows than the head promises: the newest ones were removed.
            result.firstBroken = Break(seq: end, id: nil, reason: "the row with chain_seq \(end) is missing (deleted)")
            return result
        }
        if end > head.seq, previous != head.hash {
            result.firstBroken = Break(seq: head.seq, id: nil, reason: "the chain head's hash differs from the last row's link")
            return result
        }
        result.nextSeq = end <= head.seq ? end : nil
        return result
    }

    /// Whether the link at `seq` still has the hash recorded (anchored) elsewhere earlier.
    public func verifyAnchor(seq: Int64, hash: [UInt8]) async throws -> Break? {
        guard let stored = try await storedHash(seq: seq) else {
            return Break(seq: seq, id: nil, reason: "the anchored row with chain_seq \(seq) is missing")
        }
        return stored == hash ? nil : Break(seq: seq, id: nil, reason: "the link at chain_seq \(seq) differs from the anchored hash")
    }

    private func storedHash(seq: Int64) async throws -> [UInt8]? {
        let rows = try await client.query("SELECT chain_hash FROM audit_events WHERE chain_seq = \(seq)", logger: logger)
        for try await hash in rows.decode(ByteBuffer.self) { return Array(buffer: hash) }
        return nil
    }

    static func link(previous: [UInt8], canonical: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: canonical)
        return Array(hasher.finalize())
    }

    /// The bytes a link covers; the same as the database's `audit_event_canonical`.
    static func canonical(
        seq: Int64, id: Int64, occurredMicros: Int64, service: String, actor: String, action: String, outcome: String,
        targetType: String?, targetID: String?, errorCode: String?, detailsJSON: String
    ) -> [UInt8] {
        func field(_ value: String?) -> String {
            guard let value else { return "-" }
            return "\(value.utf8.count):\(value)"
        }
        let fields: [String?] = ["\(seq)", "\(id)", "\(occurredMicros)", service, actor, action, outcome,
                                 targetType, targetID, errorCode, detailsJSON]
        return Array(("certctl-audit-v1" + fields.map(field).joined()).utf8)
    }
}

public enum AuditChainError: Error, CustomStringConvertible {
    case headMissing

    public var description: String {
        switch self {
        case .headMissing: "audit_chain_head has no row: the database predates migration 0013 or the row was deleted"
        }
    }
}
