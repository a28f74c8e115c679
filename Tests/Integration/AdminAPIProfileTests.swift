import CertctlStore
import Foundation
import Testing

/// `/api/v1/profiles`: create, read, list, update; every invalid value refused with its typed code.
@Suite("Admin API: profiles", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIProfileTests {
    /// The values a profile answer carries (no timestamps).
    static let settings = ["id", "description", "allowed_key_algorithms", "max_validity_days", "extended_key_usages",
                           "allowed_san_types", "san_patterns", "allow_ca"]

    func web(_ id: String = "web") -> [String: Any] {
        ["id": id, "description": "web servers", "allowed_key_algorithms": ["ecdsa-p256", "rsa-2048"], "max_validity_days": 30,
         "extended_key_usages": ["serverAuth"], "allowed_san_types": ["dns"], "san_patterns": ["*.example.com"], "allow_ca": false]
    }

    /// `object`'s profile values as canonical JSON, comparable.
    func values(_ object: [String: Any]) -> String {
        let data = try? JSONSerialization.data(withJSONObject: object.filter { Self.settings.contains($0.key) }, options: [.sortedKeys])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "not JSON"
    }

    func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    @Test("POST creates a profile (201) with the values sent; GET and the listing return it; one row and one profile.create audit event by the caller")
    func create() async throws {
        try await AdminAPIStack.run { stack in
            let created = try await stack.call(.post, "/api/v1/profiles", .json(web()))
            #expect(created.status == .created, "\(created.text)")
            #expect(values(created.json) == values(web()))
            let createdAt = try #require(date(created["created_at"]), "created_at is RFC 3339: \(created.text)")
            #expect(abs(createdAt.timeIntervalSinceNow) < 60)
            #expect(date(created["updated_at"]) != nil)

            let read = try await stack.call(.get, "/api/v1/profiles/web", auth: .role(.operator))
            #expect(read.status == .ok)
            #expect(values(read.json) == values(web()))
            #expect(date(read["created_at"]) == createdAt)

            let list = try await stack.call(.get, "/api/v1/profiles", auth: .role(.auditor))
            #expect(list.status == .ok)
            #expect(list.items.compactMap { $0["id"] as? String } == ["default", "web"], "sorted by id, with the built-in default")
            #expect(list.items.last.map(values) == values(web()))

            #expect(try await stack.count("""
                SELECT count(*) FROM profiles WHERE id = 'web' AND description = 'web servers' AND max_validity_days = 30
                AND allowed_key_algorithms = '{ecdsa-p256,rsa-2048}' AND extended_key_usages = '{serverAuth}'
                AND allowed_san_types = '{dns}' AND san_patterns = '{*.example.com}' AND NOT allow_ca
                """) == 1)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'profile.create' AND actor = 'test-admin' AND service = 'admin'
                AND outcome = 'success' AND target_type = 'profile' AND target_id = 'web'
                """) == 1)
        }
    }

    @Test("optional values default: no description, EKUs, SAN types or patterns, and allow_ca false")
    func defaults() async throws {
        try await AdminAPIStack.run { stack in
            let created = try await stack.call(.post, "/api/v1/profiles", .json([
                "id": "bare", "allowed_key_algorithms": ["ecdsa-p384"], "max_validity_days": 1,
            ]))
            #expect(created.status == .created, "\(created.text)")
            #expect(values(created.json) == values([
                "id": "bare", "description": "", "allowed_key_algorithms": ["ecdsa-p384"], "max_validity_days": 1,
                "extended_key_usages": [String](), "allowed_san_types": [String](), "san_patterns": [String](), "allow_ca": false,
            ]))
        }
    }

    @Test("PUT replaces every value, keeps created_at, moves updated_at and is audited as profile.update; an id in the body must match the URL")
    func update() async throws {
        try await AdminAPIStack.run { stack in
            let created = try await stack.call(.post, "/api/v1/profiles", .json(web()))
            try #require(created.status == .created)
            var changed = web()
            changed["id"] = nil
            changed["description"] = "web servers, 60 days"
            changed["max_validity_days"] = 60
            changed["allowed_san_types"] = ["dns", "ip"]
            changed["allow_ca"] = true
            let updated = try await stack.call(.put, "/api/v1/profiles/web", .json(changed))
            #expect(updated.status == .ok, "\(updated.text)")
            var expected = changed
            expected["id"] = "web"
            #expect(values(updated.json) == values(expected))
            #expect(date(updated["created_at"]) == date(created["created_at"]))
            let createdAt = try #require(date(created["created_at"])), updatedAt = try #require(date(updated["updated_at"]))
            #expect(updatedAt >= createdAt)
            #expect(values(try await stack.call(.get, "/api/v1/profiles/web").json) == values(expected))
            #expect(try await stack.count(
                "SELECT count(*) FROM audit_events WHERE action = 'profile.update' AND actor = 'test-admin' AND target_id = 'web'") == 1)

            // the body's id, when sent, must be the URL's
            var other = changed
            other["id"] = "other"
            let mismatch = try await stack.expectRefused(.badRequest, "invalid_request", .put, "/api/v1/profiles/web", .json(other))
            #expect((mismatch["message"] as? String)?.contains("URL") == true, "\(mismatch.text)")
            var same = changed
            same["id"] = "web"
            #expect(try await stack.call(.put, "/api/v1/profiles/web", .json(same)).status == .ok)
        }
    }

    @Test("an existing id is 409 profile_exists; GET and PUT of an unknown id are 404 profile_not_found; nothing changes")
    func conflictsAndUnknown() async throws {
        try await AdminAPIStack.run { stack in
            try #require(try await stack.call(.post, "/api/v1/profiles", .json(web())).status == .created)
            var again = web()
            again["max_validity_days"] = 10
            try await stack.expectRefused(.conflict, "profile_exists", .post, "/api/v1/profiles", .json(again))
            try await stack.expectRefused(.conflict, "profile_exists", .post, "/api/v1/profiles", .json(web("default")))
            try await stack.expectRefused(.notFound, "profile_not_found", .get, "/api/v1/profiles/nope")
            var update = web()
            update["id"] = nil
            try await stack.expectRefused(.notFound, "profile_not_found", .put, "/api/v1/profiles/nope", .json(update))
            #expect(try await stack.count("SELECT max_validity_days FROM profiles WHERE id = 'web'") == 30)
        }
    }

    /// One invalid value: the field it is in, and the value as JSON.
    static let invalid: [(field: String, json: String)] = [
        ("id", #""Bad Id""#), ("id", #""-web""#), ("id", #""web.example""#), ("id", "\"\(String(repeating: "a", count: 64))\""),
        ("id", #""""#), ("id", "17"), ("id", #""web\n""#), ("id", #""web\r\n""#), ("id", #""web\u2028""#),
        ("allowed_key_algorithms", #"["rsa-1024"]"#), ("allowed_key_algorithms", #"["ecdsa-p256", "ed25519"]"#),
        ("allowed_key_algorithms", "[]"), ("allowed_key_algorithms", #""ecdsa-p256""#), ("allowed_key_algorithms", "null"),
        ("extended_key_usages", #"["anyPurpose"]"#), ("allowed_san_types", #"["dn"]"#),
        // only a delegated OCSP responder certificate may answer OCSP for the CA (docs/security.md)
        ("extended_key_usages", #"["serverAuth", "ocspSigning"]"#),
        ("max_validity_days", "0"), ("max_validity_days", "-1"), ("max_validity_days", "36501"), ("max_validity_days", #""30""#),
        ("allow_ca", #""yes""#),
    ]

    @Test("each invalid value is 400 invalid_request naming the field and stores nothing, on POST and on PUT (which leaves the profile as it was)")
    func invalidValues() async throws {
        try await AdminAPIStack.run { stack in
            for (field, json) in Self.invalid {
                let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
                var body = web()
                body[field] = value
                let created = try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/profiles", .json(body))
                #expect((created["message"] as? String)?.contains(field) == true, "POST \(field)=\(json): \(created.text)")
                guard field != "id" else { continue }
                body["id"] = nil
                let updated = try await stack.expectRefused(.badRequest, "invalid_request", .put, "/api/v1/profiles/default", .json(body))
                #expect((updated["message"] as? String)?.contains(field) == true, "PUT \(field)=\(json): \(updated.text)")
            }
        }
    }

    @Test("a required value left out is 400 invalid_request naming it")
    func missingValues() async throws {
        try await AdminAPIStack.run { stack in
            for field in ["id", "allowed_key_algorithms", "max_validity_days"] {
                var body = web()
                body[field] = nil
                let reply = try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/profiles", .json(body))
                #expect((reply["message"] as? String)?.contains(field) == true, "without \(field): \(reply.text)")
            }
        }
    }

    @Test("the validity bounds are inclusive: 1 and 36500 days are accepted")
    func validityBounds() async throws {
        try await AdminAPIStack.run { stack in
            for days in [1, 36500] {
                var body = web("days-\(days)")
                body["max_validity_days"] = days
                let reply = try await stack.call(.post, "/api/v1/profiles", .json(body))
                #expect(reply.status == .created, "\(days): \(reply.text)")
                #expect(reply["max_validity_days"] as? Int == days)
            }
        }
    }

    @Test("DELETE removes an unused profile (204, audited as profile.delete); default and a profile a certificate names are 409 profile_in_use and stay; an unknown one is 404")
    func delete() async throws {
        try await AdminAPIStack.run { stack in
            #expect(try await stack.call(.post, "/api/v1/profiles", .json(web("unused"))).status == .created)
            #expect(try await stack.call(.post, "/api/v1/profiles", .json(web("named"))).status == .created)
            try await stack.addIssuer("iss-a")
            _ = try await stack.reservePending(issuerID: "iss-a", csr: try CSRFixture("held.example.com"))
            try await TestEnvironment.execute("UPDATE certificates SET profile_id = 'named'", stack.url)

            let deleted = try await stack.call(.delete, "/api/v1/profiles/unused")
            #expect(deleted.status == .noContent, "\(deleted.text)")
            try await stack.call(.get, "/api/v1/profiles/unused").expectError(.notFound, "profile_not_found", "after delete")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'profile.delete' AND target_id = 'unused' AND actor = 'test-admin'") == 1)
            try await stack.expectUnchanged("refused deletes") {
                try await stack.call(.delete, "/api/v1/profiles/named").expectError(.conflict, "profile_in_use", "named by a certificate")
                try await stack.call(.delete, "/api/v1/profiles/default").expectError(.conflict, "profile_in_use", "default")
                try await stack.call(.delete, "/api/v1/profiles/unused").expectError(.notFound, "profile_not_found", "twice")
                try await stack.call(.delete, "/api/v1/profiles/named", auth: .role(.operator)).expectError(.forbidden, "forbidden", "operator")
            }
        }
    }
}
