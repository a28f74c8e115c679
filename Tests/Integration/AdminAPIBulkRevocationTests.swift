import CertctlStore
import Foundation
import Testing

/// `POST /api/v1/certificates/revocations`: many certificates revoked by id or serial in one request,
/// each with its own outcome; repeating the request changes nothing more.
@Suite("Admin API: bulk revocation", .serialized, .timeLimit(.minutes(3)))
struct AdminAPIBulkRevocationTests {
    @Test("ids and serials (any form) are revoked, unknown, malformed and ambiguous items get their own outcome, and a repeat answers already_revoked for all")
    func bulk() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            var issued: [(id: String, serial: String)] = []
            for n in 0..<4 {
                let reply = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": try CSRFixture("bulk\(n).example.com").pem]))
                try #require(reply.status == .created, "\(reply.text)")
                issued.append((try #require(reply["id"] as? String), try #require(reply["serial_hex"] as? String)))
            }
            let items: [[String: Any]] = [
                ["id": issued[0].id], ["id": issued[1].id],
                ["serial": issued[2].serial.uppercased()], ["serial": "0x" + issued[3].serial],
                ["id": UUID().uuidString], ["serial": "zz"], ["id": "not-a-uuid"], ["id": issued[0].id, "serial": issued[0].serial],
            ]
            let first = try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "keyCompromise", "items": items]),
                                             auth: .role(.operator))
            #expect(first.status == .ok, "\(first.text)")
            let outcomes = (first["results"] as? [[String: Any]] ?? []).compactMap { $0["outcome"] as? String }
            #expect(outcomes == ["revoked", "revoked", "revoked", "revoked", "not_found", "invalid", "invalid", "invalid"], "\(first.text)")
            let summary = first["summary"] as? [String: Int]
            #expect(summary?["revoked"] == 4 && summary?["not_found"] == 1 && summary?["invalid"] == 3)
            #expect(try await stack.count("SELECT count(*) FROM certificates WHERE status = 'revoked'") == 4)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND actor = 'test-operator'") == 4)

            let again = try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "keyCompromise", "items": items]))
            let repeated = (again["results"] as? [[String: Any]] ?? []).prefix(4).compactMap { $0["outcome"] as? String }
            #expect(repeated == Array(repeating: "already_revoked", count: 4), "\(again.text)")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke'") == 4, "nothing changed twice")
        }
    }

    @Test("an auditor, an unknown reason, no items or more than 500 are refused as a whole and change nothing")
    func refusals() async throws {
        try await AdminAPIStack.run { stack in
            let one: [[String: Any]] = [["id": UUID().uuidString]]
            try await stack.expectUnchanged("refusals") {
                try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "keyCompromise", "items": one]),
                                     auth: .role(.auditor)).expectError(.forbidden, "forbidden", "auditor")
                try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "bored", "items": one]))
                    .expectError(.badRequest, "invalid_reason", "reason")
                try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "superseded", "items": [] as [Any]]))
                    .expectError(.badRequest, "invalid_request", "no items")
                let many = Array(repeating: ["id": UUID().uuidString], count: 501)
                try await stack.call(.post, "/api/v1/certificates/revocations", .json(["reason": "superseded", "items": many]))
                    .expectError(.badRequest, "invalid_request", "501 items")
            }
        }
    }
}
