import CertctlPKI
import Foundation
import Testing
import X509

/// Signed (Intune-style) challenges and subjectAltName-bound one-time
/// challenges, against the same real stack as SCEPEnrollTests.
extension SCEPEnrollTests {
    /// A connector: P-256 key and self-signed certificate in the stack's directory.
    func connector(_ stack: Stack, _ name: String) throws -> (certPEM: String, keyPEM: String) {
        let dir = stack.ca.directory
        try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                            "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt", "-subj", "/CN=\(name)", "-days", "2"])
        return (try String(contentsOfFile: "\(dir)/\(name).crt", encoding: .utf8), try String(contentsOfFile: "\(dir)/\(name).key", encoding: .utf8))
    }

    @Test("signed challenges: a connector's token issues once; another audience, an unknown connector, an expired token, a reused one and a commonName mismatch get FAILURE, audited; a rotated connector is accepted after an API reload without restart")
    func signedChallenges() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            let first = try connector(stack, "connector-1"), second = try connector(stack, "connector-2")
            let bundle = stack.ca.directory + "/connectors.pem"
            try first.certPEM.write(toFile: bundle, atomically: true, encoding: .utf8)
            #expect(try api(stack, "POST", "/api/v1/admin/trust-anchors",
                            json: #"{"name": "connectors", "purpose": "scep-signed-challenge", "path": "\#(bundle)"}"#).status == 201)
            let reload = try api(stack, "POST", "/api/v1/admin/trust-anchors/connectors/reload")
            #expect(reload.status == 200, "\(reload.json)")
            let profileBody = #"{"name": "mdm", "issuer_id": "iss-local", "ra_cert_path": "\#(stack.raCertPath)", "ra_key_path": "\#(stack.raCertPath.replacingOccurrences(of: ".crt", with: ".key"))", "allow_one_time_challenges": false, "signed_challenge_trust_anchor": "connectors"}"#
            let created = try api(stack, "POST", "/api/v1/scep/profiles", json: profileBody)
            #expect(created.status == 201, "\(created.json)")
            #expect(created.json["signed_challenge_trust_anchor"] as? String == "connectors")
            // An EST client-CA bundle cannot serve as connector bundle.
            let estBundle = stack.ca.directory + "/est.pem"
            try first.certPEM.write(toFile: estBundle, atomically: true, encoding: .utf8)
            #expect(try api(stack, "POST", "/api/v1/admin/trust-anchors", json: #"{"name": "est-ca", "purpose": "est-mtls", "path": "\#(estBundle)"}"#).status == 201)
            let wrongPurpose = try api(stack, "POST", "/api/v1/scep/profiles", json: profileBody
                .replacingOccurrences(of: #""mdm""#, with: #""mdm2""#).replacingOccurrences(of: #""connectors""#, with: #""est-ca""#))
            #expect(wrongPurpose.status == 422 && wrongPurpose.json["error"] as? String == "invalid_reference", "\(wrongPurpose.json)")

            let now = Date()
            func token(_ key: String, aud: String = "mdm", id: String, cn: String? = nil, from: Date? = nil, to: Date? = nil) throws -> String {
                try SCEPSignedChallenge.sign(keyPEM: key, audience: aud, notBefore: from ?? now - 5, notAfter: to ?? now + 600, id: id, commonName: cn)
            }
            let good = try token(first.keyPEM, id: "device-0001")
            let issued = try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-1", challenge: good), transactionID: "tx-mdm-1")
            let audit = try await refusals(stack)
            #expect(issued.status == .success, "\(audit)")
            let reused = try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-2", challenge: good), transactionID: "tx-mdm-2")
            #expect(reused.status == .failure && reused.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_signed_challenge_reused") == 1)

            let cases: [(String, String, SCEPFailInfo)] = [
                (try token(first.keyPEM, aud: "devices", id: "device-0002"), "scep_signed_challenge_wrong_audience", .badRequest),
                (try token(second.keyPEM, id: "device-0003"), "scep_signed_challenge_bad_signature", .badMessageCheck),
                (try token(first.keyPEM, id: "device-0004", from: now - 7200, to: now - 60), "scep_signed_challenge_expired", .badTime),
                (try token(first.keyPEM, id: "device-0005", cn: "someone-else"), "scep_signed_challenge_subject_mismatch", .badRequest),
                ("v1:aud=mdm:garbage", "scep_signed_challenge_malformed", .badRequest),
            ]
            for (index, (challenge, code, failInfo)) in cases.enumerated() {
                let reply = try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-bad-\(index)", challenge: challenge),
                                       transactionID: "tx-mdm-bad-\(index)")
                #expect(reply.status == .failure && reply.failInfo == failInfo, "\(code)")
                #expect(try await auditCount(stack, code: code) == 1, "\(code)")
            }
            let bound = try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-bound", challenge: try token(first.keyPEM, id: "device-0006", cn: "mdm-bound")),
                                   transactionID: "tx-mdm-bound")
            #expect(bound.status == .success)
            // The static challenge of another profile is not a key to this one, and a token is not a static challenge.
            #expect(try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-static", challenge: "static-secret-1"), transactionID: "tx-mdm-static").status == .failure)
            #expect(try enroll(stack, try device(stack, cn: "devices-token", challenge: try token(first.keyPEM, aud: "devices", id: "device-0007")),
                               transactionID: "tx-devices-token").status == .failure)

            // Connector rotation: the second key is refused until its certificate is in the bundle and the bundle reloaded.
            try (first.certPEM + second.certPEM).write(toFile: bundle, atomically: true, encoding: .utf8)
            let rotated = try api(stack, "POST", "/api/v1/admin/trust-anchors/connectors/reload")
            #expect(rotated.status == 200, "\(rotated.json)")
            let afterRotation = try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-rotated", challenge: try token(second.keyPEM, id: "device-0008")),
                                           transactionID: "tx-mdm-rotated")
            #expect(afterRotation.status == .success)
            // A broken bundle reload keeps the pool: tokens keep verifying.
            try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n".write(toFile: bundle, atomically: true, encoding: .utf8)
            #expect(try api(stack, "POST", "/api/v1/admin/trust-anchors/connectors/reload").status == 422)
            #expect(try enroll(stack, profile: "mdm", try device(stack, cn: "mdm-kept", challenge: try token(second.keyPEM, id: "device-0009")),
                               transactionID: "tx-mdm-kept").status == .success)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM scep_signed_challenge_uses WHERE profile_name = 'mdm'", stack.url) == 4)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE request_source = 'scep'", stack.url) == 4)
        }
    }

    @Test("a one-time challenge bound to subjectAltNames issues for exactly that set and refuses another, audited as scep_challenge_san_mismatch")
    func sanBoundChallenges() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            func mint(_ sans: String) throws -> (status: Int, json: [String: Any]) {
                try api(stack, "POST", "/api/v1/scep/devices/challenges", json: #"{"ttl_seconds": 600, "expected_sans": \#(sans)}"#)
            }
            let minted = try mint(#"["dns:Bound-1.example.com"]"#)
            #expect(minted.status == 201)
            #expect(minted.json["expected_sans"] as? [String] == ["DNS:bound-1.example.com"], "normalised")
            let secret = try #require(minted.json["challenge"] as? String)
            // device() requests DNS:<cn>.example.com
            #expect(try enroll(stack, try device(stack, cn: "bound-1", challenge: secret), transactionID: "tx-bound-1").status == .success)
            let other = try #require(try mint(#"["DNS:bound-2.example.com", "IP:10.0.0.1"]"#).json["challenge"] as? String)
            let refused = try enroll(stack, try device(stack, cn: "bound-2", challenge: other), transactionID: "tx-bound-2")
            #expect(refused.status == .failure && refused.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_challenge_san_mismatch") == 1)
            for bad in [#"[]"#, #"["bound.example.com"]"#, #"["IP:300.1.1.1"]"#, #"["X400:foo"]"#] {
                let reply = try mint(bad)
                #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_request", "\(bad)")
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE request_source = 'scep'", stack.url) == 1)
        }
    }
}
