import CertctlStore
import Foundation
import Testing
import X509

/// `/api/v1/issuers`: the CAs this deployment signs with.
@Suite("Admin API: issuers", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIIssuerTests {
    func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    @Test("list and get describe each issuer's active generation: its certificate, subject, validity, key algorithm and publication URLs; a rotation shows generation 2")
    func describeIssuers() async throws {
        try await AdminAPIStack.run { stack in
            #expect(try await stack.call(.get, "/api/v1/issuers").items.isEmpty)
            let first = try await stack.addIssuer("iss-a", commonName: "Test Issuing CA A")
            try await stack.addIssuer("iss-b")

            let list = try await stack.call(.get, "/api/v1/issuers", auth: .role(.operator))
            #expect(list.status == .ok)
            #expect(Set(list.items.compactMap { $0["id"] as? String }) == ["iss-a", "iss-b"])

            let reply = try await stack.call(.get, "/api/v1/issuers/iss-a", auth: .role(.auditor))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply["id"] as? String == "iss-a")
            #expect(reply["display_name"] as? String == "Test issuer iss-a")
            #expect(reply["status"] as? String == "active")
            #expect(reply["generation"] as? Int == 1)
            #expect(reply["subject"] as? String == "CN=Test Issuing CA A")
            #expect(reply["key_algorithm"] as? String == "ecdsa-p256")
            #expect(reply["allow_sub_ca"] as? Bool == false)
            let pem = try #require(reply["certificate_pem"] as? String)
            #expect(try Certificate(pemEncoded: pem) == first)
            #expect(date(reply["not_before"]).map { abs($0.timeIntervalSince(first.notValidBefore)) < 1 } == true)
            #expect(date(reply["not_after"]).map { abs($0.timeIntervalSince(first.notValidAfter)) < 1 } == true)
            // docs/crl-ocsp.md: where relying parties fetch OCSP, the CRL and the CA certificate
            #expect(reply["ocsp_url"] as? String == "http://ocsp.test/.well-known/pki/ocsp/iss-a")
            // each key generation has its own CRL and CA certificate URL
            #expect(reply["crl_url"] as? String == "http://crl.test/.well-known/pki/crl/iss-a/1")
            #expect(reply["ca_issuers_url"] as? String == "http://crl.test/.well-known/pki/ca/iss-a/1.crt")

            let rotated = try await stack.addIssuer("iss-a", commonName: "Test Issuing CA A2")
            let after = try await stack.call(.get, "/api/v1/issuers/iss-a")
            #expect(after["generation"] as? Int == 2)
            #expect(after["subject"] as? String == "CN=Test Issuing CA A2")
            #expect((after["certificate_pem"] as? String).flatMap { try? Certificate(pemEncoded: $0) } == rotated)
            #expect(after["crl_url"] as? String == "http://crl.test/.well-known/pki/crl/iss-a/2")
            let generations = try #require(after["generations"] as? [[String: Any]])
            #expect(generations.map { $0["generation"] as? Int } == [1, 2])
            #expect(generations.map { $0["status"] as? String } == ["retired", "active"])
            #expect(generations[0]["crl_url"] as? String == "http://crl.test/.well-known/pki/crl/iss-a/1")
            #expect((generations[0]["certificates"] as? [String: Any])?["total"] as? Int == 0)
        }
    }

    @Test("an unknown issuer is 404 issuer_not_found")
    func unknown() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            try await stack.expectRefused(.notFound, "issuer_not_found", .get, "/api/v1/issuers/iss-nope")
            try await stack.expectRefused(.notFound, "issuer_not_found", .get, "/api/v1/issuers/ISS-A")
        }
    }
}
