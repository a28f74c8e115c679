import CertctlStore
import Foundation
import Testing

/// `/api/v1/audit`: the audit trail, newest first, filtered and paged.
@Suite("Admin API: audit trail", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIAuditTests {
    /// Five profile.create events (p1…p5, in that order) and one profile.update of p3.
    func seed(_ stack: AdminAPIStack) async throws {
        for n in 1...5 {
            let created = try await stack.call(.post, "/api/v1/profiles", .json([
                "id": "p\(n)", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": n,
            ]))
            try #require(created.status == .created)
        }
        let updated = try await stack.call(.put, "/api/v1/profiles/p3", .json(["allowed_key_algorithms": ["ecdsa-p384"], "max_validity_days": 9]))
        try #require(updated.status == .ok)
    }

    /// The ids of every audit event, newest first, as the database has them.
    func allIDs(_ stack: AdminAPIStack, where condition: String = "true") async throws -> [Int] {
        try await TestEnvironment.withConnection(stack.url) { connection in
            let rows = try await connection.query(.init(unsafeSQL: "SELECT id FROM audit_events WHERE \(condition) ORDER BY id DESC"),
                                                  logger: TestEnvironment.logger)
            var ids: [Int] = []
            for try await id in rows.decode(Int.self) { ids.append(id) }
            return ids
        }
    }

    @Test("the listing holds every event newest first, each with all its fields (absent ones null) and its details as an object")
    func listing() async throws {
        try await AdminAPIStack.run { stack in
            try await seed(stack)
            let reply = try await stack.call(.get, "/api/v1/audit", auth: .role(.auditor))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.items.compactMap { $0["id"] as? Int } == (try await allIDs(stack)))
            #expect(reply.json["next_cursor"] is NSNull, "one page holds all: \(reply.text)")
            let newest = try #require(reply.items.first)
            #expect(newest["action"] as? String == "profile.update")
            #expect(newest["actor"] as? String == "test-admin")
            #expect(newest["service"] as? String == "admin")
            #expect(newest["outcome"] as? String == "success")
            #expect(newest["target_type"] as? String == "profile")
            #expect(newest["target_id"] as? String == "p3")
            #expect(newest["error_code"] is NSNull, "absent values are null, not missing keys")
            #expect((newest["details"] as? [String: Any])?.isEmpty == true)
            let occurred = try #require((newest["occurred_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(occurred.timeIntervalSinceNow) < 60)
            // the API keys the harness made: details carried through
            let keyEvent = try #require(reply.items.first { ($0["details"] as? [String: Any])?["actor"] as? String == "test-auditor" })
            #expect(keyEvent["action"] as? String == "api_key.create")
            #expect((keyEvent["details"] as? [String: String])?["role"] == "auditor")
            #expect(keyEvent["target_type"] as? String == "api_key")
        }
    }

    @Test("action and target_id filter exactly, alone and together")
    func filters() async throws {
        try await AdminAPIStack.run { stack in
            try await seed(stack)
            let creates = try await stack.call(.get, "/api/v1/audit?action=profile.create")
            #expect(creates.items.compactMap { $0["target_id"] as? String } == ["p5", "p4", "p3", "p2", "p1"])
            let p3 = try await stack.call(.get, "/api/v1/audit?target_id=p3")
            #expect(p3.items.compactMap { $0["action"] as? String } == ["profile.update", "profile.create"])
            let both = try await stack.call(.get, "/api/v1/audit?target_id=p3&action=profile.update")
            #expect(both.items.count == 1)
            #expect(both.items.first?["id"] as? Int == (try await allIDs(stack, where: "action = 'profile.update'")).first)
            let none = try await stack.call(.get, "/api/v1/audit?target_id=\(queryValue("p3' OR 'x'='x"))")
            #expect(none.status == .ok)
            #expect(none.items.isEmpty, "a filter value is data, not SQL: \(none.text)")
        }
    }

    @Test("paging with limit and cursor visits every event once, newest first; next_cursor is null on a short last page, and a full last page is followed by an empty one")
    func paging() async throws {
        try await AdminAPIStack.run { stack in
            try await seed(stack)
            let all = try await allIDs(stack)
            for limit in [1, 2, all.count] {
                var seen: [Int] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let reply = try await stack.call(.get, "/api/v1/audit?limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
                    #expect(reply.status == .ok, "\(reply.text)")
                    #expect(reply.items.count <= limit)
                    seen += reply.items.compactMap { $0["id"] as? Int }
                    cursor = reply.json["next_cursor"] as? String
                    if let cursor { #expect(Int(cursor) == seen.last, "the cursor continues after the page's last event") }
                    pages += 1
                } while cursor != nil && pages <= all.count + 1
                #expect(seen == all, "limit \(limit)")
                #expect(pages == all.count / limit + 1, "limit \(limit): \(pages) pages for \(all.count) events")
            }
        }
    }

    @Test("bad paging parameters are 400: a non-numeric cursor invalid_cursor, a limit outside 1…500 invalid_request")
    func badParameters() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.expectRefused(.badRequest, "invalid_cursor", .get, "/api/v1/audit?cursor=abc")
            for limit in ["0", "501", "-1", "ten", ""] {
                try await stack.expectRefused(.badRequest, "invalid_request", .get, "/api/v1/audit?limit=\(limit)")
            }
            for limit in ["1", "500"] {
                #expect(try await stack.call(.get, "/api/v1/audit?limit=\(limit)").status == .ok)
            }
        }
    }
}
