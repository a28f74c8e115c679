import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// `/api/v1/enrollment/requests`: SCEP and EST requests held for approval (the parts that need no
/// signer; approving into a certificate is in AdminAPICertificateTests).
@Suite("Admin API: enrollment requests", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIEnrollmentRequestTests {
    @Test("GET describes a held request: its CSR (PEM and SHA-256), subject, names, requester and pending status; an unknown or non-UUID id is 404")
    func get() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let csr = try CSRFixture("device-1", dnsNames: ["device-1.example.com", "alt.example.com"])
            let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: csr, requester: "est:device-1")
            let id = held.id.uuidString.lowercased()
            let reply = try await stack.call(.get, "/api/v1/enrollment/requests/\(id)", auth: .role(.auditor))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply["id"] as? String == id)
            #expect(reply["protocol"] as? String == "est")
            #expect(reply["endpoint"] as? String == "lab")
            #expect(reply["operation"] as? String == "simpleenroll")
            #expect(reply["issuer_id"] as? String == "iss-a")
            #expect(reply["profile_id"] as? String == "default")
            #expect(reply["subject"] as? String == "CN=device-1")
            #expect(reply["subject_alt_names"] as? [String] == ["DNS:device-1.example.com", "DNS:alt.example.com"])
            #expect(reply["requester"] as? String == "est:device-1")
            #expect(reply["remote"] as? String == "192.0.2.7")
            #expect(reply["status"] as? String == "pending")
            #expect(isNull(reply["decided_by"]) && isNull(reply["decided_at"]) && isNull(reply["certificate_id"]), "\(reply.text)")
            let pem = try #require(reply["csr_pem"] as? String)
            var serializer = DER.Serializer()
            try serializer.serialize(try CertificateSigningRequest(pemEncoded: pem))
            #expect(serializer.serializedBytes == csr.der, "csr_pem is the stored CSR")
            #expect(reply["csr_sha256"] as? String == Hex.string(SHA256.hash(data: csr.der)))

            try await stack.expectRefused(.notFound, "enrollment_request_not_found", .get, "/api/v1/enrollment/requests/\(UUID())")
            try await stack.expectRefused(.notFound, "enrollment_request_not_found", .get, "/api/v1/enrollment/requests/not-a-uuid")
        }
    }

    @Test("the listing is newest first, filters by status, protocol and endpoint, and pages with limit and cursor; bad filters are 400")
    func list() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            var held: [String] = []
            for n in 1...4 {
                let record = try await stack.holdRequest(endpoint: n % 2 == 0 ? "lab" : "factory", issuerID: "iss-a",
                                                         csr: try CSRFixture("device-\(n)"), requester: "est:device-\(n)")
                held.append(record.id.uuidString.lowercased())
            }
            let rejected = try await stack.call(.post, "/api/v1/enrollment/requests/\(held[0])/reject", .json(["reason": "unknown device"]))
            try #require(rejected.status == .ok)
            let newestFirst = Array(held.reversed())

            let all = try await stack.call(.get, "/api/v1/enrollment/requests", auth: .role(.auditor))
            #expect(all.items.compactMap { $0["id"] as? String } == newestFirst)
            #expect(all.json["next_cursor"] is NSNull, "null on the last page, as the API description says: \(all.text)")
            let pending = try await stack.call(.get, "/api/v1/enrollment/requests?status=pending")
            #expect(pending.items.compactMap { $0["id"] as? String } == newestFirst.filter { $0 != held[0] })
            let lab = try await stack.call(.get, "/api/v1/enrollment/requests?endpoint=lab&protocol=est")
            #expect(lab.items.compactMap { $0["id"] as? String } == [held[3], held[1]])
            #expect(try await stack.call(.get, "/api/v1/enrollment/requests?protocol=scep").items.isEmpty)
            #expect(try await stack.call(.get, "/api/v1/enrollment/requests?status=rejected").items.compactMap { $0["id"] as? String }
                == [held[0]])

            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await stack.call(.get, "/api/v1/enrollment/requests?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                seen += page.items.compactMap { $0["id"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil && seen.count <= held.count
            #expect(seen == newestFirst)

            for query in ["status=open", "protocol=acme", "limit=0", "limit=501"] {
                try await stack.expectRefused(.badRequest, "invalid_request", .get, "/api/v1/enrollment/requests?\(query)")
            }
            try await stack.expectRefused(.badRequest, "invalid_cursor", .get, "/api/v1/enrollment/requests?cursor=12")
        }
    }

    @Test("rejecting (admin or operator) records the trimmed reason, who decided and when, audited; a decided request cannot be rejected or approved again (409)")
    func reject() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: try CSRFixture("device-1"))
            let id = held.id.uuidString.lowercased()
            let reply = try await stack.call(.post, "/api/v1/enrollment/requests/\(id)/reject", .json(["reason": "  not one of ours \n"]),
                                             auth: .role(.operator))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply["status"] as? String == "rejected")
            #expect(reply["reason"] as? String == "not one of ours")
            #expect(reply["decided_by"] as? String == "test-operator")
            let decided = try #require((reply["decided_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(decided.timeIntervalSinceNow) < 60)
            #expect(isNull(reply["certificate_id"]))
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.reject' AND actor = 'test-operator'
                AND target_id = '\(id)' AND outcome = 'success' AND details->>'reason' = 'not one of ours'
                """) == 1)

            try await stack.expectRefused(.conflict, "enrollment_request_not_pending", .post, "/api/v1/enrollment/requests/\(id)/reject",
                                          .json(["reason": "again"]))
            try await stack.expectRefused(.conflict, "enrollment_request_not_pending", .post, "/api/v1/enrollment/requests/\(id)/approve")
        }
    }

    @Test("reject refusals: a reason empty after trimming or over 1000 characters is 400; an unknown request 404; nothing changes")
    func rejectRefusals() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: try CSRFixture("device-1"))
            let path = "/api/v1/enrollment/requests/\(held.id.uuidString.lowercased())/reject"
            for reason in ["", "  \n\t", String(repeating: "r", count: 1001)] {
                try await stack.expectRefused(.badRequest, "invalid_request", .post, path, .json(["reason": reason]))
            }
            try await stack.expectRefused(.notFound, "enrollment_request_not_found", .post,
                                          "/api/v1/enrollment/requests/\(UUID())/reject", .json(["reason": "x"]))
            try await stack.expectRefused(.notFound, "enrollment_request_not_found", .post,
                                          "/api/v1/enrollment/requests/\(UUID())/approve")
            #expect(try await stack.call(.post, path, .json(["reason": String(repeating: "r", count: 1000)])).status == .ok)
        }
    }

    @Test("approving a request that issuance now refuses (its profile no longer allows the key) makes it failed: 422 enrollment_request_failed, the refusal recorded and audited, no certificate")
    func approveRefusedByPolicy() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: try CSRFixture("device-1"))
            let id = held.id.uuidString.lowercased()
            let narrowed = try await stack.call(.put, "/api/v1/profiles/default", .json([
                "allowed_key_algorithms": ["rsa-2048"], "max_validity_days": 397, "allowed_san_types": ["dns"],
            ]))
            try #require(narrowed.status == .ok)
            let reply = try await stack.call(.post, "/api/v1/enrollment/requests/\(id)/approve", auth: .role(.operator))
            reply.expectError(.unprocessableContent, "enrollment_request_failed", "approve")
            #expect((reply["message"] as? String)?.contains("key") == true, "\(reply.text)")
            let read = try await stack.call(.get, "/api/v1/enrollment/requests/\(id)")
            #expect(read["status"] as? String == "failed")
            #expect((read["reason"] as? String)?.hasPrefix("key_not_allowed: ") == true, "\(read.text)")
            #expect(read["decided_by"] as? String == "test-operator")
            #expect(try await stack.count("SELECT count(*) FROM certificates") == 0)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.approve' AND outcome = 'failure'
                AND error_code = 'key_not_allowed' AND actor = 'test-operator' AND target_id = '\(id)'
                """) == 1)
        }
    }
}
