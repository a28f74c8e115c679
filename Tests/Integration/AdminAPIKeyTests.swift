import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// `/api/v1/api-keys`: API keys as a lifecycle (docs/api-keys.md): created with a role, listed without
/// their secret, revoked (401 on the next request), rotated, and the bootstrap key replaced by a new
/// CERTCTL_API_KEY.
@Suite("Admin API: API keys", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIKeyTests {
    func create(_ stack: AdminAPIStack, _ body: [String: Any]) async throws -> (id: String, key: String) {
        let reply = try await stack.call(.post, "/api/v1/api-keys", .json(body))
        try #require(reply.status == .created, "\(reply.text)")
        return (try #require(reply["id"] as? String), try #require(reply["key"] as? String))
    }

    @Test("a created key is shown once, works with its role, records its last use, and is listed and audited without its secret")
    func createAndUse() async throws {
        try await AdminAPIStack.run { stack in
            let reply = try await stack.call(.post, "/api/v1/api-keys", .json([
                "actor": "ci-pipeline", "role": "auditor", "description": "nightly audit export",
                "expires_at": ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400)),
            ]))
            #expect(reply.status == .created, "\(reply.text)")
            let key = try #require(reply["key"] as? String)
            let id = try #require(reply["id"] as? String)
            #expect(key.hasPrefix("cctl_") && key.count == 48)
            #expect(reply["role"] as? String == "auditor" && reply["actor"] as? String == "ci-pipeline")
            #expect(reply["created_by"] as? String == "test-admin" && reply["bootstrap"] as? Bool == false)
            #expect(reply["key_prefix"] as? String == String(key.prefix(10)))
            #expect(isNull(reply["last_used_at"]) && isNull(reply["revoked_at"]))

            #expect(try await stack.call(.get, "/api/v1/audit", auth: .key(key)).status == .ok, "an auditor reads the trail")
            try await stack.call(.post, "/api/v1/profiles", .json(["id": "p", "allowed_key_algorithms": ["ecdsa-p256"]]),
                                 auth: .key(key)).expectError(.forbidden, "forbidden", "an auditor may not write")

            let read = try await stack.call(.get, "/api/v1/api-keys/\(id)")
            #expect(read["key"] == nil, "the secret is never shown again: \(read.text)")
            #expect(!isNull(read["last_used_at"]), "its use was recorded")
            let listing = try await stack.call(.get, "/api/v1/api-keys")
            #expect(listing.items.contains { $0["id"] as? String == id })
            #expect(!listing.text.contains(key))
            #expect(try await stack.count("SELECT count(*) FROM api_keys WHERE position('\(key)' in encode(key_hash, 'escape')) > 0") == 0)
            let audit = try await stack.call(.get, "/api/v1/audit?target_id=\(id)")
            #expect(audit.items.first?["action"] as? String == "api_key.create")
            #expect(audit.items.first?["actor"] as? String == "test-admin")
            #expect(!audit.text.contains(key))
        }
    }

    @Test("a revoked key gets 401 on its next request; revoking twice is 409, an unknown key 404; the last admin key cannot be revoked")
    func revoke() async throws {
        try await AdminAPIStack.run { stack in
            let (id, key) = try await create(stack, ["actor": "bob", "role": "operator"])
            #expect(try await stack.call(.get, "/api/v1/certificates", auth: .key(key)).status == .ok)
            let revoked = try await stack.call(.post, "/api/v1/api-keys/\(id)/revoke")
            #expect(revoked.status == .ok && !isNull(revoked["revoked_at"]) && revoked["revoked_by"] as? String == "test-admin")
            try await stack.call(.get, "/api/v1/certificates", auth: .key(key)).expectError(.unauthorized, "unauthenticated", "revoked key")
            try await stack.call(.post, "/api/v1/api-keys/\(id)/revoke").expectError(.conflict, "api_key_revoked", "twice")
            try await stack.call(.post, "/api/v1/api-keys/\(UUID())/revoke").expectError(.notFound, "api_key_not_found", "unknown")
            #expect(try await stack.call(.get, "/api/v1/api-keys").items.allSatisfy { $0["id"] as? String != id })
            #expect(try await stack.call(.get, "/api/v1/api-keys?include_revoked=true").items.contains { $0["id"] as? String == id })

            // The harness's admin key is the only admin key.
            let adminID = try #require(try await stack.call(.get, "/api/v1/api-keys").items
                .first { $0["actor"] as? String == "test-admin" }?["id"] as? String)
            try await stack.call(.post, "/api/v1/api-keys/\(adminID)/revoke")
                .expectError(.conflict, "last_admin_key", "the only admin key")
            let (_, second) = try await create(stack, ["actor": "carol", "role": "admin"])
            #expect(try await stack.call(.post, "/api/v1/api-keys/\(adminID)/revoke", auth: .key(second)).status == .ok)
            try await stack.call(.get, "/api/v1/api-keys").expectError(.unauthorized, "unauthenticated", "the revoked admin key")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'api_key.revoke'") == 2)
        }
    }

    @Test("rotating gives a new key with the same actor and role that replaces the old one, which stops working")
    func rotate() async throws {
        try await AdminAPIStack.run { stack in
            let (id, old) = try await create(stack, ["actor": "deploy-bot", "role": "operator", "description": "deploys"])
            let rotated = try await stack.call(.post, "/api/v1/api-keys/\(id)/rotate")
            #expect(rotated.status == .created, "\(rotated.text)")
            let new = try #require(rotated["key"] as? String)
            #expect(rotated["replaces"] as? String == id && rotated["actor"] as? String == "deploy-bot")
            #expect(rotated["role"] as? String == "operator" && rotated["description"] as? String == "deploys")
            #expect(try await stack.call(.get, "/api/v1/certificates", auth: .key(new)).status == .ok)
            try await stack.call(.get, "/api/v1/certificates", auth: .key(old)).expectError(.unauthorized, "unauthenticated", "old key")
            try await stack.call(.post, "/api/v1/api-keys/\(id)/rotate").expectError(.conflict, "api_key_revoked", "rotating a revoked key")
        }
    }

    @Test("only admins manage keys; bad fields are 400 and create nothing; an expired key is 401")
    func refusals() async throws {
        try await AdminAPIStack.run { stack in
            for role in [APIRole.operator, .auditor] {
                try await stack.call(.get, "/api/v1/api-keys", auth: .role(role)).expectError(.forbidden, "forbidden", "\(role)")
                try await stack.call(.post, "/api/v1/api-keys", .json(["actor": "x", "role": "admin"]), auth: .role(role))
                    .expectError(.forbidden, "forbidden", "\(role) creating an admin key")
            }
            let past = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
            for (what, body) in [("role", ["actor": "x", "role": "root"]), ("actor", ["actor": "a b", "role": "admin"]),
                                 ("expiry", ["actor": "x", "role": "admin", "expires_at": past]),
                                 ("description", ["actor": "x", "role": "admin", "description": "two\nlines"])] as [(String, [String: Any])] {
                try await stack.expectUnchanged(what) {
                    try await stack.call(.post, "/api/v1/api-keys", .json(body)).expectError(.badRequest, "invalid_request", what)
                }
            }
            let (id, key) = try await create(stack, ["actor": "temp", "role": "auditor"])
            try await TestEnvironment.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = '\(id)'", stack.url)
            try await stack.call(.get, "/api/v1/audit", auth: .key(key)).expectError(.unauthorized, "unauthenticated", "expired key")
        }
    }

    @Test("a new CERTCTL_API_KEY revokes the bootstrap key it replaces; a revoked one is not restored by a restart")
    func bootstrapReplacement() async throws {
        try await AdminAPIStack.run { stack in
            let store = APIKeyStore(client: stack.client, logger: TestEnvironment.logger)
            let first = APIKeyStore.generate(), second = APIKeyStore.generate()
            #expect(try await store.ensureBootstrap(key: first, service: "admin") == .created(revokedPrevious: 0))
            #expect(try await store.ensureBootstrap(key: first, service: "admin") == .present)
            #expect(try await stack.call(.get, "/api/v1/api-keys", auth: .key(first)).status == .ok)
            #expect(try await store.ensureBootstrap(key: second, service: "admin") == .created(revokedPrevious: 1))
            try await stack.call(.get, "/api/v1/api-keys", auth: .key(first)).expectError(.unauthorized, "unauthenticated", "replaced")
            let bootstrap = try #require(try await store.list(includeRevoked: false).first { $0.bootstrap })
            #expect(try await stack.call(.post, "/api/v1/api-keys/\(bootstrap.id.uuidString.lowercased())/revoke").status == .ok)
            #expect(try await store.ensureBootstrap(key: second, service: "admin") == .revoked)
            try await stack.call(.get, "/api/v1/api-keys", auth: .key(second)).expectError(.unauthorized, "unauthenticated", "revoked")
            #expect(try await stack.count("SELECT count(*) FROM api_keys WHERE bootstrap AND revoked_at IS NULL") == 0)
        }
    }

    @Test("keys are stored salted; a key stored before migration 0013 (unsalted SHA-256) still works and is re-hashed on use")
    func saltedStorage() async throws {
        try await AdminAPIStack.run { stack in
            let legacy = APIKeyStore.generate()
            let hex = Hex.string(APIKeyStore.hash(legacy))
            try await TestEnvironment.execute("""
                INSERT INTO api_keys (actor, role, key_hash, key_prefix) VALUES ('old', 'auditor', '\\x\(hex)', '\(APIKeyStore.prefix(legacy))')
                """, stack.url)
            #expect(try await stack.call(.get, "/api/v1/audit", auth: .key(legacy)).status == .ok)
            #expect(try await stack.count("SELECT count(*) FROM api_keys WHERE actor = 'old' AND key_salt IS NOT NULL AND key_hash <> '\\x\(hex)'") == 1)
            #expect(try await stack.call(.get, "/api/v1/audit", auth: .key(legacy)).status == .ok, "works after re-hashing")
            #expect(try await stack.count("SELECT count(*) FROM api_keys WHERE key_salt IS NULL") == 0)
        }
    }
}
