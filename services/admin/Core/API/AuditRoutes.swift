import CertctlStore
import Foundation
import Hummingbird
import PostgresNIO

/// `/api/v1/audit`: the append-only audit trail, newest first.
struct AuditRoutes: Sendable {
    let support: APISupport
    let client: PostgresClient
    let logger: Logger

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
        }

        enum CodingKeys: String, CodingKey {
            case id, occurred_at, service, actor, action, outcome, target_type, target_id, error_code, details
        }
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/audit") { request, _ in
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
                          details: (try? JSONDecoder().decode([String: String].self, from: Data(event.detailsJSON.utf8))) ?? [:])
            }
            return try APISupport.json(Page(items: items, next_cursor: events.count == limit ? events.last.map { "\($0.id)" } : nil))
        }
    }
}
