import CertctlConfig
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import SwiftASN1
import Testing
import X509

/// `/api/v1/certificates`: issuance (through a real certctl-signer), lookup, listing and revocation,
/// and approving held enrollment requests into certificates.
@Suite("Admin API: certificates", .serialized, .timeLimit(.minutes(3)))
struct AdminAPICertificateTests {
    func caCertificate(_ stack: AdminAPIStack) throws -> Certificate {
        try Certificate(pemEncoded: String(contentsOfFile: stack.ca.certPath, encoding: .utf8))
    }

    func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    /// POSTs the CSR as `role` and expects 201.
    func issue(_ stack: AdminAPIStack, _ csr: CSRFixture, role: APIRole = .admin, extra: [String: Any] = [:]) async throws -> APIReply {
        let reply = try await stack.call(.post, "/api/v1/certificates", .json(extra.merging(["csr_pem": csr.pem]) { a, _ in a }),
                                         auth: .role(role))
        try #require(reply.status == .created, "\(reply.text)")
        return reply
    }

    @Test("issuing from a CSR (201): the certificate the signer stored, for the CSR's key and names, signed by the CA, with its chain, valid for the default profile's 397 days capped at the CA's notAfter or for validity_days; GET and the listing return it; an operator may issue; audited under the caller")
    func issueAndRead() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let ca = try caCertificate(stack)
            let csr = try CSRFixture("app.example.com", otherNames: [.ipAddress(ASN1OctetString(contentBytes: [10, 1, 2, 3]))])
            let reply = try await issue(stack, csr)
            let id = try #require(reply["id"] as? String)
            #expect(UUID(uuidString: id) != nil)
            #expect(reply["status"] as? String == "issued")
            #expect(reply["issuer_id"] as? String == "iss-local", "the default issuer")
            #expect(reply["profile_id"] as? String == "default")
            #expect(reply["subject"] as? String == "CN=app.example.com")
            #expect(reply["subject_alt_names"] as? [String] == ["DNS:app.example.com", "IP:10.1.2.3"])
            #expect(reply["requested_by"] as? String == "test-admin")
            #expect(reply["revocation"] is NSNull && reply["failure_reason"] is NSNull)

            let certificate = try Certificate(pemEncoded: try #require(reply["certificate_pem"] as? String))
            #expect(ca.publicKey.isValidSignature(certificate.signature, for: certificate), "signed by the CA")
            #expect(certificate.issuer == ca.subject)
            #expect(certificate.publicKey == (try CertificateSigningRequest(pemEncoded: csr.pem)).publicKey)
            let serialHex = Hex.string(certificate.serialNumber.bytes)
            #expect(reply["serial_hex"] as? String == String(serialHex.drop { $0 == "0" }), "lowercase hex, no leading zeros")
            let chain = try #require(reply["chain_pem"] as? String)
            #expect(try PEMDocument.parseMultiple(pemString: chain).map { try Certificate(pemDocument: $0) } == [certificate, ca])
            #expect(date(reply["not_before"]).map { abs($0.timeIntervalSince(certificate.notValidBefore)) < 1 } == true)
            #expect(date(reply["not_after"]).map { abs($0.timeIntervalSince(certificate.notValidAfter)) < 1 } == true)
            // notBefore 5 minutes back and the default profile's 397 days, both within the CA's own validity
            // (this CA was made seconds ago and lasts 30 days)
            let backdated = max(ca.notValidBefore, Date().addingTimeInterval(-300))
            #expect(abs(certificate.notValidBefore.timeIntervalSince(backdated)) < 10, "\(certificate.notValidBefore), CA \(ca.notValidBefore)")
            #expect(certificate.notValidAfter == ca.notValidAfter)

            let read = try await stack.call(.get, "/api/v1/certificates/\(id)", auth: .role(.auditor))
            #expect(read.status == .ok)
            #expect(read["certificate_pem"] as? String == reply["certificate_pem"] as? String)
            #expect(read["chain_pem"] as? String == chain)
            let list = try await stack.call(.get, "/api/v1/certificates", auth: .role(.operator))
            #expect(list.items.compactMap { $0["id"] as? String } == [id])

            let byOperator = try await issue(stack, try CSRFixture("op.example.com"), role: .operator, extra: ["validity_days": 10])
            #expect(byOperator["requested_by"] as? String == "test-operator")
            let short = try Certificate(pemEncoded: try #require(byOperator["certificate_pem"] as? String))
            #expect(abs(short.notValidAfter.timeIntervalSinceNow - 10 * 86_400) < 10, "validity_days 10 from now: \(short.notValidAfter)")
            #expect(try await stack.count("SELECT count(*) FROM certificates WHERE status = 'issued' AND certificate_der IS NOT NULL") == 2)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'certificate.issue' AND outcome = 'success' AND service = 'signer'
                AND actor = 'certctl-admin'
                AND ((details->>'requested_by' = 'test-admin' AND target_id = '\(id)') OR details->>'requested_by' = 'test-operator')
                """) == 2)
        }
    }

    @Test("an Idempotency-Key replays the first answer (200, same certificate) for the same request, is 409 idempotency_conflict for another, and must be 1 to 200 characters")
    func idempotency() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let csr = try CSRFixture("idem.example.com")
            let key = "key-\(UUID())"
            let first = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": csr.pem]), headers: ["Idempotency-Key": key])
            #expect(first.status == .created, "\(first.text)")
            let replay = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": csr.pem]), headers: ["Idempotency-Key": key])
            #expect(replay.status == .ok, "\(replay.text)")
            #expect(replay["id"] as? String == first["id"] as? String)
            #expect(replay["serial_hex"] as? String == first["serial_hex"] as? String)
            #expect(replay["certificate_pem"] as? String == first["certificate_pem"] as? String)

            let other = try CSRFixture("other.example.com")
            try await stack.expectRefused(.conflict, "idempotency_conflict", .post, "/api/v1/certificates", .json(["csr_pem": other.pem]),
                                          headers: ["Idempotency-Key": key])
            try await stack.expectRefused(.conflict, "idempotency_conflict", .post, "/api/v1/certificates",
                                          .json(["csr_pem": csr.pem, "validity_days": 30]), headers: ["Idempotency-Key": key])
            for bad in ["", String(repeating: "k", count: 201)] {
                try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/certificates", .json(["csr_pem": other.pem]),
                                              headers: ["Idempotency-Key": bad])
            }
            // the same key from another caller is another request
            let operatorCopy = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": csr.pem]), auth: .role(.operator),
                                                    headers: ["Idempotency-Key": key])
            #expect(operatorCopy.status == .created)
            #expect(operatorCopy["id"] as? String != first["id"] as? String)
            #expect(try await stack.count("SELECT count(*) FROM certificates") == 2)
        }
    }

    @Test("requests the profile or the input refuses never reach the signer: each gets its typed 4xx and stores nothing")
    func refusedBeforeSigning() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let good = try CSRFixture("app.example.com")
            let der = Data(good.der).base64EncodedString()
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", stack.ca.directory + "/small.key",
                                                "-subj", "/CN=small.example.com", "-out", stack.ca.directory + "/small.csr"])
            let rsa1024 = try String(contentsOfFile: stack.ca.directory + "/small.csr", encoding: .utf8)
            let cases: [(String, [String: Any], HTTPResponse.Status, String)] = [
                ("garbage", ["csr_pem": "hello"], .badRequest, "invalid_csr"),
                ("base64 DER without PEM armour", ["csr_pem": der], .badRequest, "invalid_csr"),
                ("a certificate instead of a CSR", ["csr_pem": try String(contentsOfFile: stack.ca.certPath, encoding: .utf8)], .badRequest, "invalid_csr"),
                ("broken CSR signature", ["csr_pem": try CSRFixture("app.example.com", badSignature: true).pem], .badRequest, "csr_signature_invalid"),
                ("P-521 key", ["csr_pem": try CSRFixture("p521.example.com", key: .init(P521.Signing.PrivateKey())).pem], .badRequest, "key_not_allowed"),
                ("RSA-1024 key (openssl)", ["csr_pem": rsa1024], .badRequest, "key_not_allowed"),
                ("email SAN", ["csr_pem": try CSRFixture("mail.example.com", otherNames: [.rfc822Name("a@example.com")]).pem], .badRequest,
                 "san_not_allowed"),
                ("validity_days 398", ["csr_pem": good.pem, "validity_days": 398], .badRequest, "validity_too_long"),
                ("validity_days 0", ["csr_pem": good.pem, "validity_days": 0], .badRequest, "invalid_request"),
                ("unknown issuer", ["csr_pem": good.pem, "issuer_id": "iss-nope"], .notFound, "issuer_not_found"),
                ("unknown profile", ["csr_pem": good.pem, "profile_id": "nope"], .notFound, "profile_not_found"),
            ]
            for (what, body, status, code) in cases {
                var body = body
                if body["issuer_id"] == nil { body["issuer_id"] = "iss-a" }
                let reply = try await stack.expectRefused(status, code, .post, "/api/v1/certificates", .json(body))
                #expect(reply.error == code, "\(what)")
            }
            #expect(try await stack.count("SELECT count(*) FROM certificates") == 0)
        }
    }

    @Test("under a custom profile, what it does not allow is refused before signing: a name outside its SAN patterns or of another type, another key algorithm, a longer validity")
    func customProfileRefusals() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let profile = try await stack.call(.post, "/api/v1/profiles", .json([
                "id": "web", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 60, "extended_key_usages": ["serverAuth"],
                "allowed_san_types": ["dns"], "san_patterns": ["*.example.com"],
            ]))
            try #require(profile.status == .created, "\(profile.text)")
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", stack.ca.directory + "/rsa.key",
                                                "-subj", "/CN=b.example.com", "-addext", "subjectAltName=DNS:b.example.com",
                                                "-out", stack.ca.directory + "/rsa.csr"])
            let cases: [(String, String, Int?, String)] = [
                ("two labels under *.example.com", try CSRFixture("a.b.example.com").pem, nil, "san_not_allowed"),
                ("another domain", try CSRFixture("a.example.org").pem, nil, "san_not_allowed"),
                ("an IP address (type not allowed)",
                 try CSRFixture("ip.example.com", otherNames: [.ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 1]))]).pem, nil,
                 "san_not_allowed"),
                ("RSA-2048 (openssl)", try String(contentsOfFile: stack.ca.directory + "/rsa.csr", encoding: .utf8), nil, "key_not_allowed"),
                ("validity_days 61", try CSRFixture("c.example.com").pem, 61, "validity_too_long"),
            ]
            for (what, pem, days, code) in cases {
                var body: [String: Any] = ["csr_pem": pem, "issuer_id": "iss-a", "profile_id": "web"]
                body["validity_days"] = days
                let reply = try await stack.expectRefused(.badRequest, code, .post, "/api/v1/certificates", .json(body))
                #expect(reply.error == code, "\(what)")
            }
        }
    }

    @Test("lookups and listing refuse bad input with typed codes: unknown or malformed ids 404 certificate_not_found; bad limit, status, cursor, serial or expiring_before 400")
    func badLookups() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.expectRefused(.notFound, "certificate_not_found", .get, "/api/v1/certificates/\(UUID())")
            try await stack.expectRefused(.notFound, "certificate_not_found", .get, "/api/v1/certificates/not-a-uuid")
            for (query, code) in [
                ("limit=0", "invalid_request"), ("limit=501", "invalid_request"), ("status=bogus", "invalid_request"),
                ("cursor=not-a-cursor", "invalid_cursor"), ("expiring_before=yesterday", "invalid_request"),
                ("serial=xyz", "invalid_serial"), ("serial=\(String(repeating: "7f", count: 21))", "invalid_serial"),
                ("serial=0", "invalid_serial"),
            ] {
                try await stack.expectRefused(.badRequest, code, .get, "/api/v1/certificates?\(query)")
            }
        }
    }

    @Test("listing pages newest first with limit and cursor, and filters by status, issuer, text, serial (any spelling) and expiry")
    func listing() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            var issued: [(id: String, serial: String)] = []
            for n in 1...5 {
                let reply = try await issue(stack, try CSRFixture("host-\(n).example.com"))
                issued.append((try #require(reply["id"] as? String), try #require(reply["serial_hex"] as? String)))
            }
            let newestFirst = issued.reversed().map(\.id)
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await stack.call(.get, "/api/v1/certificates?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                #expect(page.items.count <= 2)
                seen += page.items.compactMap { $0["id"] as? String }
                cursor = page.json["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == newestFirst)
            #expect(pages == 3)

            let revoked = try await stack.call(.post, "/api/v1/certificates/\(issued[2].id)/revoke", .json(["reason": "superseded"]))
            try #require(revoked.status == .ok)
            func ids(_ query: String) async throws -> [String] {
                let reply = try await stack.call(.get, "/api/v1/certificates?\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return reply.items.compactMap { $0["id"] as? String }
            }
            #expect(try await ids("status=revoked") == [issued[2].id])
            #expect(try await ids("status=issued") == newestFirst.filter { $0 != issued[2].id })
            #expect(try await ids("status=pending").isEmpty)
            #expect(try await ids("issuer_id=iss-local") == newestFirst)
            #expect(try await ids("issuer_id=iss-other").isEmpty)
            #expect(try await ids("q=HOST-4.example") == [issued[3].id], "q matches subject and names, ignoring case")
            #expect(try await ids("q=\(queryValue("host-_"))").isEmpty, "q is literal text, not a LIKE pattern")
            // serial: as returned, upper case, openssl's colon form with a leading 00, 0x prefix
            let serial = issued[1].serial
            let padded = serial.count % 2 == 0 ? serial : "0" + serial
            let colons = ("00" + padded).uppercased().enumerated().map { $0.offset > 0 && $0.offset % 2 == 0 ? ":\($0.element)" : "\($0.element)" }
                .joined()
            for spelling in [serial, serial.uppercased(), colons, "0x" + serial] {
                #expect(try await ids("serial=\(queryValue(spelling))") == [issued[1].id], "serial=\(spelling)")
            }
            // every certificate here ends at the CA's notAfter; an offset in the timestamp counts
            let caEnd = try caCertificate(stack).notValidAfter
            let formatter = ISO8601DateFormatter()
            #expect(try await ids("expiring_before=\(queryValue(formatter.string(from: Date().addingTimeInterval(86_400))))").isEmpty)
            formatter.timeZone = TimeZone(secondsFromGMT: 5 * 3600)
            #expect(try await ids("expiring_before=\(queryValue(formatter.string(from: caEnd.addingTimeInterval(-3600))))").isEmpty)
            formatter.timeZone = TimeZone(secondsFromGMT: -5 * 3600)
            #expect(try await ids("expiring_before=\(queryValue(formatter.string(from: caEnd.addingTimeInterval(3600))))") == newestFirst)
        }
    }

    @Test("revoking: keyCompromise with an invalidity date (200, the revocation shown), again changes nothing; a hold is lifted with removeFromCRL, which a certificate not on hold refuses (409); an operator revokes; bad reasons and unknown ids are refused")
    func revoke() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let first = try await issue(stack, try CSRFixture("one.example.com"))
            let second = try await issue(stack, try CSRFixture("two.example.com"))
            let id = try #require(first["id"] as? String), other = try #require(second["id"] as? String)
            let invalidity = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3600))
            let revoked = try await stack.call(.post, "/api/v1/certificates/\(id)/revoke",
                                               .json(["reason": "keyCompromise", "invalidity_date": invalidity]))
            #expect(revoked.status == .ok, "\(revoked.text)")
            #expect(revoked["status"] as? String == "revoked")
            let revocation = try #require(revoked["revocation"] as? [String: Any])
            #expect(revocation["reason"] as? String == "keyCompromise")
            #expect(revocation["reason_code"] as? Int == 1)
            #expect(revocation["invalidity_date"] as? String == invalidity)
            #expect(revocation["revoked_by"] as? String == "test-admin")
            #expect(date(revocation["revoked_at"]).map { abs($0.timeIntervalSinceNow) < 60 } == true)
            #expect(revoked["certificate_pem"] as? String == first["certificate_pem"] as? String, "the certificate stays readable")

            let again = try await stack.expectUnchanged("revoking again") {
                try await stack.call(.post, "/api/v1/certificates/\(id)/revoke", .json(["reason": "keyCompromise"]))
            }
            #expect(again.status == .ok)
            #expect((again["revocation"] as? [String: Any])?["revoked_at"] as? String == revocation["revoked_at"] as? String)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND target_id = '\(id)'") == 1)

            let hold = try await stack.call(.post, "/api/v1/certificates/\(other)/revoke", .json(["reason": "certificateHold"]),
                                            auth: .role(.operator))
            #expect(hold.status == .ok)
            #expect((hold["revocation"] as? [String: Any])?["reason_code"] as? Int == 6)
            #expect((hold["revocation"] as? [String: Any])?["revoked_by"] as? String == "test-operator")
            let released = try await stack.call(.post, "/api/v1/certificates/\(other)/revoke", .json(["reason": "removeFromCRL"]))
            #expect(released.status == .ok)
            #expect(released["status"] as? String == "issued")
            #expect(released["revocation"] is NSNull, "\(released.text)")
            try await stack.expectRefused(.conflict, "not_revocable", .post, "/api/v1/certificates/\(other)/revoke",
                                          .json(["reason": "removeFromCRL"]))
            #expect(try await stack.count(
                "SELECT count(*) FROM audit_events WHERE action = 'certificate.hold_release' AND target_id = '\(other)'") == 1)

            let reply = try await stack.expectRefused(.badRequest, "invalid_reason", .post, "/api/v1/certificates/\(other)/revoke",
                                                      .json(["reason": "compromised"]))
            #expect((reply["message"] as? String)?.contains("keyCompromise") == true, "the message lists the reasons: \(reply.text)")
            try await stack.expectRefused(.notFound, "certificate_not_found", .post, "/api/v1/certificates/\(UUID())/revoke",
                                          .json(["reason": "superseded"]))
            try await stack.expectRefused(.notFound, "certificate_not_found", .post, "/api/v1/certificates/nope/revoke",
                                          .json(["reason": "superseded"]))
        }
    }

    @Test("a certificate that is not issued (a pending reservation) cannot be revoked: 409 not_revocable")
    func revokePending() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let id = try await stack.reservePending(issuerID: "iss-a", csr: try CSRFixture("pending.example.com"))
            try await stack.expectRefused(.conflict, "not_revocable", .post, "/api/v1/certificates/\(id.uuidString.lowercased())/revoke",
                                          .json(["reason": "superseded"]))
            let read = try await stack.call(.get, "/api/v1/certificates/\(id.uuidString.lowercased())")
            #expect(read["status"] as? String == "pending")
            #expect(read["certificate_pem"] is NSNull && read["chain_pem"] is NSNull)
        }
    }

    @Test("approving a held request issues its certificate through the signer (200, status issued, the certificate requested by the device); a second approval is 409")
    func approve() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let csr = try CSRFixture("device-1.example.com")
            let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-local", csr: csr, requester: "est:device-1")
            let id = held.id.uuidString.lowercased()
            let reply = try await stack.call(.post, "/api/v1/enrollment/requests/\(id)/approve", auth: .role(.operator))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply["status"] as? String == "issued")
            #expect(reply["decided_by"] as? String == "test-operator")
            let certificateID = try #require(reply["certificate_id"] as? String)
            let certificate = try await stack.call(.get, "/api/v1/certificates/\(certificateID)")
            #expect(certificate["status"] as? String == "issued")
            #expect(certificate["requested_by"] as? String == "est:device-1", "the device, not the approver")
            #expect(certificate["subject_alt_names"] as? [String] == ["DNS:device-1.example.com"])
            let issued = try Certificate(pemEncoded: try #require(certificate["certificate_pem"] as? String))
            #expect(issued.publicKey == (try CertificateSigningRequest(pemEncoded: csr.pem)).publicKey)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.approve' AND outcome = 'success'
                AND actor = 'test-operator' AND target_id = '\(id)' AND details->>'certificate_id' = '\(certificateID)'
                """) == 1)
            try await stack.expectRefused(.conflict, "enrollment_request_not_pending", .post, "/api/v1/enrollment/requests/\(id)/approve")
            #expect(try await stack.count("SELECT count(*) FROM certificates") == 1)
        }
    }

    @Test("with the signer unreachable, issuing answers 503 signer_unavailable with Retry-After after the RPC timeout and leaves the reservation pending (the reaper's to fail)")
    func signerUnreachable() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let reply = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": try CSRFixture("app.example.com").pem,
                                                                                  "issuer_id": "iss-a"]))
            reply.expectError(.serviceUnavailable, "signer_unavailable", "issue without a signer")
            #expect(reply.headers[.retryAfter] == "5")
            #expect(try await stack.count("SELECT count(*) FROM certificates WHERE status = 'pending' AND certificate_der IS NULL") == 1)
            #expect(try await stack.count("SELECT count(*) FROM certificates") == 1)
        }
    }
}
