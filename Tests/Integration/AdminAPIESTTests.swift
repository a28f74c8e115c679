import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// `/api/v1/est/labels` (EST labels) and `/api/v1/est/labels/{name}/users` (HTTP Basic users).
@Suite("Admin API: EST labels and users", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIESTTests {
    /// Issuer iss-a and the Basic label lab.
    func addLabel(_ stack: AdminAPIStack) async throws {
        try await stack.addIssuer("iss-a")
        try #require(try await stack.call(.post, "/api/v1/est/labels", .json(["name": "lab", "issuer_id": "iss-a"])).status == .created)
    }

    func passwordHash(_ stack: AdminAPIStack, label: String, username: String) async throws -> String? {
        try await EnrollmentESTStore(client: stack.client, logger: TestEnvironment.logger).passwordHash(label: label, username: username)
    }

    @Test("POST creates a label (201) with Basic on and mTLS off unless asked; with mTLS it needs an est-mtls trust anchor; the listing returns both; audited")
    func labels() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let basic = try await stack.call(.post, "/api/v1/est/labels", .json(["name": "lab", "issuer_id": "iss-a"]))
            #expect(basic.status == .created, "\(basic.text)")
            #expect(basic["path"] as? String == "/.well-known/est/lab")
            #expect(basic["profile_id"] as? String == "default")
            #expect(basic["allow_basic"] as? Bool == true)
            #expect(basic["allow_mtls"] as? Bool == false)
            #expect(basic["require_approval"] as? Bool == false)

            let anchor = try await stack.call(.post, "/api/v1/admin/trust-anchors", .json(["name": "clients", "path": "/etc/clients.pem"]))
            try #require(anchor.status == .created)
            let mtls = try await stack.call(.post, "/api/v1/est/labels", .json([
                "name": "factory", "issuer_id": "iss-a", "allow_basic": false, "allow_mtls": true, "trust_anchor": "clients",
                "require_approval": true,
            ]))
            #expect(mtls.status == .created, "\(mtls.text)")
            #expect(mtls["trust_anchor"] as? String == "clients")
            #expect(mtls["require_approval"] as? Bool == true)

            let list = try await stack.call(.get, "/api/v1/est/labels", auth: .role(.auditor))
            #expect(list.status == .ok)
            #expect(list.items.compactMap { $0["name"] as? String } == ["factory", "lab"])
            #expect(try await stack.count("""
                SELECT count(*) FROM est_labels WHERE (name = 'lab' AND allow_basic AND NOT allow_mtls AND trust_anchor IS NULL)
                OR (name = 'factory' AND NOT allow_basic AND allow_mtls AND trust_anchor = 'clients' AND require_approval)
                """) == 2)
            #expect(try await stack.count(
                "SELECT count(*) FROM audit_events WHERE action = 'est_label.create' AND actor = 'test-admin' AND outcome = 'success'") == 2)
        }
    }

    @Test("label refusals: an existing name 409, an invalid value 400, an unknown issuer, profile or trust anchor (or one of another purpose) 422 invalid_reference; nothing changes")
    func labelRefusals() async throws {
        try await AdminAPIStack.run { stack in
            try await addLabel(stack)
            try #require(try await stack.call(.post, "/api/v1/admin/trust-anchors", .json([
                "name": "connector", "purpose": "scep-signed-challenge", "path": "/etc/connector.pem",
            ])).status == .created)
            let path = "/api/v1/est/labels"
            try await stack.expectRefused(.conflict, "est_label_exists", .post, path, .json(["name": "lab", "issuer_id": "iss-a"]))
            for body: [String: Any] in [
                ["name": "Lab", "issuer_id": "iss-a"], ["name": "lab\n", "issuer_id": "iss-a"], ["name": "", "issuer_id": "iss-a"],
                ["name": "other"], ["issuer_id": "iss-a"],
                ["name": "other", "issuer_id": "iss-a", "allow_basic": false],
                ["name": "other", "issuer_id": "iss-a", "allow_mtls": true],
                ["name": "other", "issuer_id": "iss-a", "allow_mtls": "true", "trust_anchor": "connector"],
            ] {
                try await stack.expectRefused(.badRequest, "invalid_request", .post, path, .json(body))
            }
            for body: [String: Any] in [
                ["name": "other", "issuer_id": "iss-nope"], ["name": "other", "issuer_id": "ISS A"], ["name": "other", "issuer_id": "iss_a"],
                ["name": "other", "issuer_id": "iss-a", "profile_id": "nope"],
                ["name": "other", "issuer_id": "iss-a", "allow_mtls": true, "trust_anchor": "nope"],
                ["name": "other", "issuer_id": "iss-a", "allow_mtls": true, "trust_anchor": "connector"],
            ] {
                try await stack.expectRefused(.unprocessableContent, "invalid_reference", .post, path, .json(body))
            }
        }
    }

    @Test("setting a user returns a fresh password once (201) and stores only a salted hash of it; setting it again replaces the password; audited without the password")
    func users() async throws {
        try await AdminAPIStack.run { stack in
            try await addLabel(stack)
            let first = try await stack.call(.post, "/api/v1/est/labels/lab/users", .json(["username": "device-1@site.example"]))
            #expect(first.status == .created, "\(first.text)")
            #expect(first["label"] as? String == "lab")
            #expect(first["username"] as? String == "device-1@site.example")
            let password = try #require(first["password"] as? String)
            #expect(password.count == 32 && password.allSatisfy(\.isHexDigit), "128 random bits as hex: \(password)")
            let hash = try #require(try await passwordHash(stack, label: "lab", username: "device-1@site.example"))
            #expect(!hash.contains(password))
            #expect(EnrollmentESTStore.verifyPassword(password, stored: hash))

            let second = try await stack.call(.post, "/api/v1/est/labels/lab/users", .json(["username": "device-1@site.example"]))
            #expect(second.status == .created)
            let replaced = try #require(second["password"] as? String)
            #expect(replaced != password)
            let newHash = try #require(try await passwordHash(stack, label: "lab", username: "device-1@site.example"))
            #expect(EnrollmentESTStore.verifyPassword(replaced, stored: newHash))
            #expect(!EnrollmentESTStore.verifyPassword(password, stored: newHash), "the old password no longer works")
            #expect(try await stack.count("SELECT count(*) FROM est_users") == 1)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'est_user.set' AND actor = 'test-admin' AND target_id = 'lab'
                AND details->>'username' = 'device-1@site.example'
                """) == 2)
            #expect(try await stack.count(
                "SELECT count(*) FROM audit_events WHERE details::text LIKE '%\(password)%' OR details::text LIKE '%\(replaced)%'") == 0)
        }
    }

    @Test("user refusals: an unknown label 404 est_label_not_found, a username outside [A-Za-z0-9._@-]{1,128} 400; nothing changes")
    func userRefusals() async throws {
        try await AdminAPIStack.run { stack in
            try await addLabel(stack)
            try await stack.expectRefused(.notFound, "est_label_not_found", .post, "/api/v1/est/labels/nope/users",
                                          .json(["username": "alice"]))
            for username in ["", "alice smith", "alice:x", "alice\n", String(repeating: "a", count: 129)] {
                try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/est/labels/lab/users",
                                              .json(["username": username]))
            }
            #expect(try await stack.call(.post, "/api/v1/est/labels/lab/users",
                                         .json(["username": String(repeating: "a", count: 128)])).status == .created)
        }
    }
}
