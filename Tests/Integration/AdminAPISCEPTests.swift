import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import Testing

/// `/api/v1/scep/profiles` (SCEP endpoints) and `/api/v1/scep/{profile}/challenges` (one-time challenges).
@Suite("Admin API: SCEP endpoints and challenges", .serialized, .timeLimit(.minutes(2)))
struct AdminAPISCEPTests {
    func endpoint(_ name: String = "devices") -> [String: Any] {
        ["name": name, "issuer_id": "iss-a", "ra_cert_path": "/etc/certctl/ra.crt", "ra_key_path": "/etc/certctl/ra.key",
         "static_challenge": "static-secret-1"]
    }

    func sha256Hex(_ text: String) -> String {
        Hex.string(SHA256.hash(data: Data(text.utf8)))
    }

    @Test("POST creates an SCEP endpoint (201): the static challenge is stored as its SHA-256 and never returned; GET, the listing and DELETE (204) work and are audited")
    func lifecycle() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let created = try await stack.call(.post, "/api/v1/scep/profiles", .json(endpoint()))
            #expect(created.status == .created, "\(created.text)")
            #expect(created["name"] as? String == "devices")
            #expect(created["issuer_id"] as? String == "iss-a")
            #expect(created["profile_id"] as? String == "default", "the default certificate profile when none is named")
            #expect(created["path"] as? String == "/scep/devices")
            #expect(created["has_static_challenge"] as? Bool == true)
            #expect(created["allow_one_time_challenges"] as? Bool == true, "one-time challenges are on unless turned off")
            #expect(created["require_approval"] as? Bool == false)
            #expect(created["static_challenge"] == nil && !created.text.contains("static-secret-1"), "the secret is never returned")
            #expect(try await stack.count("""
                SELECT count(*) FROM scep_profiles WHERE name = 'devices'
                AND encode(static_challenge_sha256, 'hex') = '\(sha256Hex("static-secret-1"))'
                AND ra_cert_path = '/etc/certctl/ra.crt' AND ra_key_path = '/etc/certctl/ra.key'
                """) == 1)

            let read = try await stack.call(.get, "/api/v1/scep/profiles/devices", auth: .role(.auditor))
            #expect(read.status == .ok)
            #expect(read["ra_key_path"] as? String == "/etc/certctl/ra.key")
            let list = try await stack.call(.get, "/api/v1/scep/profiles", auth: .role(.operator))
            #expect(list.items.compactMap { $0["name"] as? String } == ["devices"])

            let deleted = try await stack.call(.delete, "/api/v1/scep/profiles/devices")
            #expect(deleted.status == .noContent)
            #expect(try await stack.count("SELECT count(*) FROM scep_profiles") == 0)
            try await stack.expectRefused(.notFound, "scep_profile_not_found", .get, "/api/v1/scep/profiles/devices")
            try await stack.expectRefused(.notFound, "scep_profile_not_found", .delete, "/api/v1/scep/profiles/devices")
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE actor = 'test-admin' AND target_type = 'scep_profile' AND target_id = 'devices'
                AND action IN ('scep_profile.create', 'scep_profile.delete') AND outcome = 'success'
                """) == 2)
        }
    }

    @Test("an existing name is 409 scep_profile_exists; each invalid value is 400 invalid_request naming it; nothing changes")
    func invalid() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            try #require(try await stack.call(.post, "/api/v1/scep/profiles", .json(endpoint())).status == .created)
            try await stack.expectRefused(.conflict, "scep_profile_exists", .post, "/api/v1/scep/profiles", .json(endpoint()))
            let cases: [(String, Any?, String)] = [
                ("name", "Devices", "name"), ("name", "devices/x", "name"), ("name", "devices\n", "name"),
                ("ra_cert_path", "ra.crt", "ra_cert_path"), ("ra_key_path", "relative/ra.key", "ra_key_path"),
                ("ra_key_path", "/etc/ra\u{0}.key", "U+0000"),
                ("static_challenge", "1234567", "static_challenge"), ("static_challenge", String(repeating: "s", count: 256), "static_challenge"),
                ("validity_days", 0, "validity_days"), ("validity_days", 36_501, "validity_days"),
                // found by schemathesis: beyond Postgres's int it used to fail the INSERT with a 500
                ("validity_days", 1_546_096_633_116_232, "validity_days"), ("issuer_id", nil, "issuer_id"), ("ra_cert_path", nil, "ra_cert_path"),
                ("allow_one_time_challenges", "yes", "allow_one_time_challenges"),
            ]
            for (field, value, named) in cases {
                var body = endpoint("other")
                body[field] = value
                let reply = try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/scep/profiles", .json(body))
                #expect((reply["message"] as? String)?.contains(named) == true, "\(field)=\(String(describing: value)): \(reply.text)")
            }
            // no way to authenticate a device at all
            var none = endpoint("other")
            none["static_challenge"] = nil
            none["allow_one_time_challenges"] = false
            try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/scep/profiles", .json(none))
        }
    }

    @Test("a reference to an issuer, certificate profile or signed-challenge trust anchor that does not exist (or has another purpose) is 422 invalid_reference, and nothing is stored")
    func references() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            for (name, path) in [("mtls", "/etc/mtls.pem"), ("connector", "/etc/connector.pem")] {
                let purpose = name == "mtls" ? "est-mtls" : "scep-signed-challenge"
                let anchor = try await stack.call(.post, "/api/v1/admin/trust-anchors", .json(["name": name, "purpose": purpose, "path": path]))
                try #require(anchor.status == .created, "\(anchor.text)")
            }
            let cases: [(String, String)] = [
                ("issuer_id", "iss-nope"), ("issuer_id", "Not An Issuer"), ("issuer_id", "iss_a"), ("profile_id", "nope"),
                ("signed_challenge_trust_anchor", "nope"), ("signed_challenge_trust_anchor", "mtls"),
            ]
            for (field, value) in cases {
                var body = endpoint("other")
                body[field] = value
                let reply = try await stack.expectRefused(.unprocessableContent, "invalid_reference", .post, "/api/v1/scep/profiles",
                                                          .json(body))
                let named = field == "signed_challenge_trust_anchor" ? field : value
                #expect((reply["message"] as? String)?.contains(named) == true, "\(field)=\(value): \(reply.text)")
            }
            var signed = endpoint("signed")
            signed["static_challenge"] = nil
            signed["allow_one_time_challenges"] = false
            signed["signed_challenge_trust_anchor"] = "connector"
            let created = try await stack.call(.post, "/api/v1/scep/profiles", .json(signed))
            #expect(created.status == .created, "\(created.text)")
            #expect(created["signed_challenge_trust_anchor"] as? String == "connector")
            #expect(created["has_static_challenge"] as? Bool == false)
        }
    }

    @Test("minting a one-time challenge (admin or operator) returns the secret once and stores only its SHA-256, its expiry and the normalised expected names; audited with the ttl")
    func mintChallenge() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            try #require(try await stack.call(.post, "/api/v1/scep/profiles", .json(endpoint())).status == .created)
            let minted = try await stack.call(.post, "/api/v1/scep/devices/challenges", .json([
                "ttl_seconds": 600, "expected_subject": "CN=device-1",
                "expected_sans": ["dns:Device-1.Example.COM", "ip:10.0.0.1", "IP:2001:DB8::1", "email:Ops@example.com", "uri:urn:dev:1"],
            ]), auth: .role(.operator))
            #expect(minted.status == .created, "\(minted.text)")
            let secret = try #require(minted["challenge"] as? String)
            #expect(secret.count == 32 && secret.allSatisfy(\.isHexDigit), "128 random bits as hex: \(secret)")
            #expect(minted["profile"] as? String == "devices")
            #expect(minted["expected_subject"] as? String == "CN=device-1")
            let expected = ["DNS:device-1.example.com", "IP:10.0.0.1", "IP:2001:db8:0:0:0:0:0:1", "email:Ops@example.com", "URI:urn:dev:1"]
            #expect(minted["expected_sans"] as? [String] == expected, "the form a CSR's names are compared in")
            let expires = try #require((minted["expires_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(expires.timeIntervalSinceNow - 600) < 30)
            let id = try #require(minted["id"] as? String)
            #expect(try await stack.count("""
                SELECT count(*) FROM scep_challenges WHERE id = '\(id)' AND profile_name = 'devices'
                AND encode(secret_sha256, 'hex') = '\(sha256Hex(secret))' AND created_by = 'test-operator' AND used_at IS NULL
                AND expected_subject = 'CN=device-1' AND expected_sans = ARRAY[\(expected.map { "'\($0)'" }.joined(separator: ", "))]
                AND abs(extract(epoch FROM expires_at - now()) - 600) < 30
                """) == 1)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'scep_challenge.create' AND actor = 'test-operator'
                AND target_id = 'devices' AND details->>'ttl_seconds' = '600' AND details->>'challenge_id' = '\(id)'
                """) == 1)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE details::text LIKE '%\(secret)%'") == 0,
                    "the secret is in no audit event")
            // without a body's values: one hour
            let plain = try await stack.call(.post, "/api/v1/scep/devices/challenges", .json([:]))
            #expect(plain.status == .created)
            let plainExpiry = try #require((plain["expires_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(plainExpiry.timeIntervalSinceNow - 3600) < 30)
        }
    }

    @Test("challenge refusals: ttl outside 60 s to 30 days or bad expected names is 400, an unknown endpoint 404, an endpoint without one-time challenges 409; nothing is stored")
    func challengeRefusals() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            try #require(try await stack.call(.post, "/api/v1/scep/profiles", .json(endpoint())).status == .created)
            var closed = endpoint("closed")
            closed["allow_one_time_challenges"] = false
            try #require(try await stack.call(.post, "/api/v1/scep/profiles", .json(closed)).status == .created)
            let path = "/api/v1/scep/devices/challenges"
            for body: [String: Any] in [
                ["ttl_seconds": 59], ["ttl_seconds": 2_592_001], ["expected_sans": [String]()],
                ["expected_sans": (0...100).map { "DNS:d\($0).example.com" }], ["expected_sans": ["device.example.com"]],
                ["expected_sans": ["DNS:"]], ["expected_sans": ["ftp:device"]], ["expected_sans": ["IP:999.0.0.1"]],
                ["ttl_seconds": "600"],
            ] {
                let reply = try await stack.expectRefused(.badRequest, "invalid_request", .post, path, .json(body))
                #expect(reply.error == "invalid_request", "\(body)")
            }
            for ttl in [60, 2_592_000] {
                #expect(try await stack.call(.post, path, .json(["ttl_seconds": ttl])).status == .created, "ttl \(ttl) is in range")
            }
            try await stack.expectRefused(.notFound, "scep_profile_not_found", .post, "/api/v1/scep/nope/challenges", .json([:]))
            try await stack.expectRefused(.conflict, "one_time_challenges_disabled", .post, "/api/v1/scep/closed/challenges", .json([:]))
        }
    }
}
