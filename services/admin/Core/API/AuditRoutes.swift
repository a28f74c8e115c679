import CertctlConfig
import CertctlStore
import Foundation
import Hummingbird
import PostgresNIO

/// `/api/v1/audit`: the append-only audit trail, newest first; its hash chain's head and verification (docs/audit.md).
struct AuditRoutes: Sendable {
    let support: APISupport
    let client: DatabaseClient
    let chain: AuditChain
    let logger: Logger

    static let maxVerifyPage = 100_000

    struct EventJSON: Encodable {
        let id: Int64
        let occurred_at: Date
        let service: String
        let actor: String
        let action: String
        let outcome: String
        let target_type: String?
        let target_id: String?
        let error_code: String?
        let details: [String: String]
        let chain_seq: Int64?
        let chain_hash: String?

        // Absent values are null, never missing keys.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(occurred_at, forKey: .occurred_at)
            try c.encode(service, forKey: .service)
            try c.encode(actor, forKey: .actor)
            try c.encode(action, forKey: .action)
            try c.encode(outcome, forKey: .outcome)
            try c.encode(target_type, forKey: .target_type)
            try c.encode(target_id, forKey: .target_id)
            try c.encode(error_code, forKey: .error_code)
            try c.encode(details, forKey: .details)
            try c.encode(chain_seq, forKey: .chain_seq)
            try c.encode(chain_hash, forKey: .chain_hash)
        }

        enum CodingKeys: String, CodingKey {
            case id, occurred_at, service, actor, action, outcome, target_type, target_id, error_code, details, chain_seq, chain_hash
        }
    }

    struct HeadJSON: Encodable {
        let seq: Int64
        let hash: String
        let sealed_at: Date
        let unsealed: Int64
    }

    struct BreakJSON: Encodable {
        let seq: Int64
        let id: Int64?
        let reason: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(seq, forKey: .seq)
            try c.encode(id, forKey: .id)
            try c.encode(reason, forKey: .reason)
        }

        enum CodingKeys: String, CodingKey { case seq, id, reason }
    }

    struct VerifyJSON: Encodable {
        let ok: Bool
        let from_seq: Int64
        let checked: Int
        let next_seq: Int64?
        let head_seq: Int64
        let first_broken: BreakJSON?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ok, forKey: .ok)
            try c.encode(from_seq, forKey: .from_seq)
            try c.encode(checked, forKey: .checked)
            try c.encode(next_seq, forKey: .next_seq)
            try c.encode(head_seq, forKey: .head_seq)
            try c.encode(first_broken, forKey: .first_broken)
        }

        enum CodingKeys: String, CodingKey { case ok, from_seq, checked, next_seq, head_seq, first_broken }
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/audit") { request, _ in try await list(request) }
        router.get("/api/v1/audit/head") { request, _ in
            _ = try await support.require(request, [.admin, .auditor])
            let head = try await chain.head()
            return try APISupport.json(HeadJSON(seq: head.seq, hash: Hex.string(head.hash), sealed_at: head.sealedAt,
                                                unsealed: head.unsealed))
        }
        router.get("/api/v1/audit/verify") { request, _ in try await verify(request) }
    }

    func list(_ request: Request) async throws -> Response {
        _ = try await support.require(request, [.admin, .auditor])
        let query = request.uri.queryParameters
        var before: Int64?
        if let cursor = query["cursor"] {
            guard let value = Int64(String(cursor)) else { throw APIError(.badRequest, "invalid_cursor", "cursor is not valid") }
            before = value
        }
        let limit = try APISupport.limit(request)
        let events = try await AuditLog.list(
            client: client, targetID: query["target_id"].map(String.init), action: query["action"].map(String.init),
            limit: limit, beforeID: before, logger: logger)
        let items = events.map { event in
            EventJSON(id: event.id, occurred_at: event.occurredAt, service: event.service, actor: event.actor,
                      action: event.action, outcome: event.outcome, target_type: event.targetType,
                      target_id: event.targetID, error_code: event.errorCode,
                      details: (try? JSONDecoder().decode([String: String].self, from: Data(event.detailsJSON.utf8))) ?? [:],
                      chain_seq: event.chainSeq, chain_hash: event.chainHash.map(Hex.string))
        }
        return try APISupport.json(Page(items: items, next_cursor: events.count == limit ? events.last.map { "\($0.id)" } : nil))
    }

    /// One page of the chain from `from_seq` (default 1), or, with `anchor_seq` and `anchor_hash`, whether the
    /// link at `anchor_seq` still has a hash recorded elsewhere earlier. Committed rows are sealed first.
    func verify(_ request: Request) async throws -> Response {
        _ = try await support.require(request, [.admin, .auditor])
        let query = request.uri.queryParameters
        func integer(_ name: String, _ range: ClosedRange<Int64>, default value: Int64) throws -> Int64 {
            guard let text = query[name[...]] else { return value }
            guard let number = Int64(String(text)), range.contains(number) else {
                throw APIError(.badRequest, "invalid_request", "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        try await chain.sealAll()
        if query["anchor_seq"] != nil || query["anchor_hash"] != nil {
            let seq = try integer("anchor_seq", 1...Int64.max, default: 0)
            guard let text = query["anchor_hash"].map(String.init), let hash = Hex.bytes(text), hash.count == 32 else {
                throw APIError(.badRequest, "invalid_request", "anchor_seq and anchor_hash (64 hex digits) go together")
            }
            let broken = try await chain.verifyAnchor(seq: seq, hash: hash)
            let head = try await chain.head()
            return try APISupport.json(VerifyJSON(
                ok: broken == nil, from_seq: seq, checked: broken == nil ? 1 : 0, next_seq: nil, head_seq: head.seq,
                first_broken: broken.map { BreakJSON(seq: $0.seq, id: $0.id, reason: $0.reason) }))
        }
        let from = try integer("from_seq", 1...Int64.max, default: 1)
        let limit = try integer("limit", 1...Int64(Self.maxVerifyPage), default: 10_000)
        let result = try await chain.verify(fromSeq: from, limit: Int(limit))
        return try APISupport.json(VerifyJSON(
            ok: result.ok, from_seq: result.fromSeq, checked: result.checked, next_seq: result.nextSeq, head_seq: result.headSeq,
            first_broken: result.firstBroken.map { BreakJSON(seq: $0.seq, id: $0.id, reason: $0.reason) }))
    }
}
