import CertctlConfig
import CertctlPKI
import CertctlStore
import Foundation
import PostgresNIO
import Testing
import X509

/// certctl-signer + certctl-admin + certctl-enroll on a fresh database, a SCEP
/// profile from the env bootstrap, and PKCSReq messages sent over real HTTP (curl).
@Suite("SCEP enrollment end to end", .serialized)
struct SCEPEnrollTests {
    struct Stack {
        let url: DatabaseURL
        let ca: TestCA
        let adminPort: Int
        let enrollPort: Int
        let apiKey: String
        let ra: SCEPRAIdentity
        let raCertPath: String
        /// What the signer was started with, to start it again after a test stopped it (children[1]).
        let signerEnvironment: [String: String]
        let signerHealthPort: Int
        var scepURL: String { "http://127.0.0.1:\(enrollPort)/scep/devices" }
    }

    /// Runs `body` against a started stack whose SCEP profile `devices` has static challenge `static-secret-1`.
    func withStack(raKeyMode: mode_t = 0o600, _ body: (Stack, [ChildProcess]) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["signer", "admin", "enroll"])
            // The RA: an RSA key and a certificate from the test CA.
            let raKey = ca.directory + "/ra.key", raCert = ca.directory + "/ra.crt"
            try TestCA.run("/usr/bin/openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", raKey, "-out", ca.directory + "/ra.csr",
                                                "-subj", "/CN=test SCEP RA"])
            try TestCA.run("/usr/bin/openssl", ["x509", "-req", "-in", ca.directory + "/ra.csr", "-CA", ca.certPath, "-CAkey", ca.keyPath,
                                                "-CAcreateserial", "-days", "5", "-out", raCert])
            chmod(raKey, raKeyMode)
            let ra = try SCEPRAIdentity(certificate: Certificate(pemEncoded: String(contentsOfFile: raCert, encoding: .utf8)),
                                        keyPEM: String(contentsOfFile: raKey, encoding: .utf8))
            let signerRPC = freePort(), adminPort = freePort(), enrollPort = freePort(), signerHealth = freePort()
            let apiKey = APIKeyStore.generate()
            var children: [ChildProcess] = []
            let common = ["CERTCTL_LOG_FORMAT": "text", "CERTCTL_SIGNER_ADDR": "127.0.0.1:\(signerRPC)"]
            children.append(try ChildProcess(try TestEnvironment.binary("certctl-admin"), environment: common.merging(
                identities.environment(for: "admin")) { a, _ in a }.merging(
                ["CERTCTL_ADMIN_LISTEN": "127.0.0.1:\(adminPort)", "CERTCTL_API_KEY": apiKey,
                 "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .admin), "CERTCTL_SCEP_BOOTSTRAP_PROFILE": "devices",
                 "CERTCTL_SCEP_BOOTSTRAP_RA_CERT": raCert, "CERTCTL_SCEP_BOOTSTRAP_RA_KEY": raKey,
                 "CERTCTL_SCEP_BOOTSTRAP_CHALLENGE": "static-secret-1"]) { a, _ in a }))
            let signerEnvironment = common.merging(identities.environment(for: "signer")) { a, _ in a }.merging(
                ["CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(signerHealth)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(signerRPC)",
                 "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
                 "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .signer)]) { a, _ in a }
            children.append(try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: signerEnvironment))
            children.append(try ChildProcess(try TestEnvironment.binary("certctl-enroll"), environment: common.merging(
                identities.environment(for: "enroll")) { a, _ in a }.merging(
                ["CERTCTL_ENROLL_LISTEN": "127.0.0.1:\(enrollPort)", "CERTCTL_SCEP_BOOTSTRAP_PROFILE": "devices",
                 "CERTCTL_ENROLL_REFUSAL_AUDIT_WINDOW": "200ms",
                 "CERTCTL_SCEP_BOOTSTRAP_RA_CERT": raCert, "CERTCTL_SCEP_BOOTSTRAP_RA_KEY": raKey,
                 "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .enroll)]) { a, _ in a }))
            let stack = Stack(url: url, ca: ca, adminPort: adminPort, enrollPort: enrollPort, apiKey: apiKey, ra: ra, raCertPath: raCert,
                              signerEnvironment: signerEnvironment, signerHealthPort: signerHealth)
            do {
                try await body(stack, children)
            } catch {
                for child in children { await child.stop() }
                throw error
            }
            for child in children { await child.stop() }
        }
    }

    func ready(_ stack: Stack, _ children: [ChildProcess]) async throws {
        for (child, port) in [(children[0], stack.adminPort), (children[2], stack.enrollPort)] {
            try await child.eventually("/readyz 200", timeout: .seconds(40)) {
                try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 200
            }
        }
        try await children[2].eventually("bootstrap profile", timeout: .seconds(20)) {
            try await HTTP.get(stack.scepURL + "?operation=GetCACaps").status == 200
        }
    }

    /// A device: RSA key, self-signed certificate, CSR with `challenge`.
    func device(_ stack: Stack, cn: String, challenge: String?) throws -> (identity: SCEPRAIdentity, csrDER: [UInt8]) {
        let dir = stack.ca.directory
        try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/\(cn).key",
                                            "-out", "\(dir)/\(cn).crt", "-subj", "/CN=\(cn)", "-days", "1"])
        // (openssl drops the config's attributes when -subj is given: the subject comes from the config too)
        var arguments = ["req", "-new", "-key", "\(dir)/\(cn).key", "-outform", "DER", "-out", "\(dir)/\(cn).csr",
                         "-addext", "subjectAltName=DNS:\(cn).example.com"]
        arguments += challenge.map { ["-config", (try? config(dir, cn: cn, $0)) ?? ""] } ?? ["-subj", "/CN=\(cn)"]
        try TestCA.run("/usr/bin/openssl", arguments)
        let identity = try SCEPRAIdentity(certificate: Certificate(pemEncoded: String(contentsOfFile: "\(dir)/\(cn).crt", encoding: .utf8)),
                                          keyPEM: String(contentsOfFile: "\(dir)/\(cn).key", encoding: .utf8))
        return (identity, Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(cn).csr"))))
    }

    /// An openssl req config whose only job is the challengePassword attribute.
    func config(_ dir: String, cn: String, _ challenge: String) throws -> String {
        let path = "\(dir)/req-\(UUID().uuidString).cnf"
        try """
            [req]
            distinguished_name = dn
            attributes = attrs
            prompt = no
            [dn]
            CN = \(cn)
            [attrs]
            challengePassword = \(challenge)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func post(_ url: String, _ body: [UInt8], contentType: String = "application/x-pki-message") throws -> (status: Int, body: [UInt8]) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("scep-\(UUID().uuidString)")
        try Data(body).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-m", "20", "-o", file.path + ".out", "-w", "%{http_code}", "-H", "Content-Type: \(contentType)",
                          "--data-binary", "@\(file.path)", url]
        let pipe = Pipe()
        curl.standardOutput = pipe
        try curl.run()
        let status = Int(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) ?? 0
        curl.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: file.path + ".out") }
        return (status, Array((try? Data(contentsOf: URL(fileURLWithPath: file.path + ".out"))) ?? Data()))
    }

    func enroll(_ stack: Stack, _ device: (identity: SCEPRAIdentity, csrDER: [UInt8]), transactionID: String) throws -> SCEPClientMessage.Reply {
        try enroll(stack, profile: "devices", device, transactionID: transactionID)
    }

    /// PKCSReq to profile `profile` (not only the stack's `devices`).
    func enroll(_ stack: Stack, profile: String, _ device: (identity: SCEPRAIdentity, csrDER: [UInt8]), transactionID: String) throws
        -> SCEPClientMessage.Reply {
        let message = try SCEPClientMessage.pkcsReq(csrDER: device.csrDER, transactionID: transactionID,
                                                    senderNonce: (0..<16).map { _ in UInt8.random(in: 0...255) },
                                                    client: device.identity, ra: stack.ra.certificate)
        let reply = try post("http://127.0.0.1:\(stack.enrollPort)/scep/\(profile)/pkiclient.exe?operation=PKIOperation", message)
        try #require(reply.status == 200, "HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
        return try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: device.identity)
    }

    func mintChallenge(_ stack: Stack) throws -> String {
        let minted = try api(stack, "POST", "/api/v1/scep/devices/challenges", json: #"{"ttl_seconds": 600}"#)
        try #require(minted.status == 201, "\(minted.json)")
        return try #require(minted.json["challenge"] as? String)
    }

    /// The refusals audited so far, for failure messages.
    func refusals(_ stack: Stack) async throws -> String {
        try await TestEnvironment.withConnection(stack.url) { connection in
            let rows = try await connection.query(
                "SELECT coalesce(error_code, '') || ' ' || details::text FROM audit_events WHERE outcome = 'denied' ORDER BY id",
                logger: TestEnvironment.logger)
            var lines: [String] = []
            for try await line in rows.decode(String.self) { lines.append(line) }
            return lines.joined(separator: "\n")
        }
    }

    /// Refusals audited with `code`: certctl-enroll audits them per source and window (200 ms here), a row
    /// carrying the count; waited for past the window's end.
    func auditCount(_ stack: Stack, code: String) async throws -> Int {
        try await Task.sleep(for: .milliseconds(600))
        return try await TestEnvironment.scalar("""
            SELECT coalesce(sum(coalesce((details->>'count')::int, 1)), 0)::int
            FROM audit_events WHERE action = 'scep.enroll' AND error_code = '\(code)'
            """, stack.url) ?? 0
    }

    @Test("GetCACaps and GetCACert; PKCSReq with the static challenge and with a one-time challenge issues; RenewalReq signed by the issued certificate issues, with another subject or a foreign signer it fails; a reused challenge, a wrong one and a replayed message get FAILURE badRequest, audited")
    func enrollment() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            let caps = try await HTTP.get(stack.scepURL + "?operation=GetCACaps")
            #expect(caps.body.split(separator: "\n").contains("POSTPKIOperation"))
            #expect(caps.body.split(separator: "\n").contains("DES3"), "libcrypto.so.3 ships with openssl: DES/3DES envelopes are readable")
            let caCert = try await HTTP.get(stack.scepURL + "/pkiclient.exe?operation=GetCACert")
            #expect(caCert.status == 200)
            #expect(caCert.headers.lowercased().contains("content-type: application/x-x509-ca-ra-cert"))

            let first = try device(stack, cn: "device-static", challenge: "static-secret-1")
            let issued = try enroll(stack, first, transactionID: "tx-static")
            let audited = try await refusals(stack)
            #expect(issued.status == .success, "\(audited)")
            let certificate = try #require(issued.certificates.first)
            #expect(certificate.publicKey == first.identity.certificate.publicKey)
            #expect(certificate.subject.description.contains("device-static"))
            let caPEM = try String(contentsOfFile: stack.ca.certPath, encoding: .utf8)
            #expect(certificate.issuer == (try Certificate(pemEncoded: caPEM)).subject)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE request_source = 'scep' AND status = 'issued'", stack.url) == 1)

            // RenewalReq: signed with the issued certificate and its key, for a new key with the same subject and SANs.
            let dir = stack.ca.directory
            let current = try SCEPRAIdentity(certificate: certificate, keyPEM: String(contentsOfFile: "\(dir)/device-static.key", encoding: .utf8))
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/renew.key",
                                                "-subj", "/CN=device-static", "-addext", "subjectAltName=DNS:device-static.example.com",
                                                "-outform", "DER", "-out", "\(dir)/renew.csr"])
            let renewCSR = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/renew.csr")))
            func renew(_ csr: [UInt8], signer: SCEPRAIdentity, _ id: String) throws -> SCEPClientMessage.Reply {
                let message = try SCEPClientMessage.pkcsReq(csrDER: csr, transactionID: id, senderNonce: Array(repeating: 1, count: 16),
                                                            client: signer, ra: stack.ra.certificate, messageType: .renewalReq)
                let reply = try post(stack.scepURL + "?operation=PKIOperation", message)
                try #require(reply.status == 200)
                return try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: signer)
            }
            let renewed = try renew(renewCSR, signer: current, "tx-renew")
            let renewedAudit = try await refusals(stack)
            #expect(renewed.status == .success, "\(renewedAudit)")
            #expect(renewed.certificates.first?.subject == certificate.subject)
            #expect(renewed.certificates.first?.publicKey != certificate.publicKey, "the renewal certifies the new key")
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-key", "\(dir)/renew.key", "-subj", "/CN=someone-else",
                                                "-addext", "subjectAltName=DNS:device-static.example.com",
                                                "-outform", "DER", "-out", "\(dir)/renew-other.csr"])
            let other = try renew(Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/renew-other.csr"))), signer: current, "tx-renew-2")
            #expect(other.status == .failure && other.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_renewal_subject_mismatch") == 1)
            let selfSigned = try renew(renewCSR, signer: first.identity, "tx-renew-3")
            #expect(selfSigned.status == .failure && selfSigned.failInfo == .badMessageCheck)
            #expect(try await auditCount(stack, code: "scep_renewal_wrong_issuer") == 1)

            // A replayed message (same bytes: same transactionID and senderNonce) is refused; nothing is issued.
            let replayDevice = try device(stack, cn: "device-replay", challenge: "static-secret-1")
            let replayMessage = try SCEPClientMessage.pkcsReq(csrDER: replayDevice.csrDER, transactionID: "tx-replay",
                                                              senderNonce: Array(repeating: 9, count: 16),
                                                              client: replayDevice.identity, ra: stack.ra.certificate)
            for (attempt, expected) in [(1, SCEPPKIStatus.success), (2, .failure)] {
                let reply = try post(stack.scepURL + "?operation=PKIOperation", replayMessage)
                let rep = try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: replayDevice.identity)
                #expect(rep.status == expected, "attempt \(attempt)")
            }
            #expect(try await auditCount(stack, code: "scep_transaction_replayed") == 1)

            let secret = try mintChallenge(stack)
            let second = try device(stack, cn: "device-once", challenge: secret)
            #expect(try enroll(stack, second, transactionID: "tx-once").status == .success)
            let third = try device(stack, cn: "device-again", challenge: secret)
            let reused = try enroll(stack, third, transactionID: "tx-again")
            #expect(reused.status == .failure && reused.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_challenge_reused") == 1)

            let wrong = try device(stack, cn: "device-wrong", challenge: "not-the-secret")
            #expect(try enroll(stack, wrong, transactionID: "tx-wrong").failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_challenge_invalid") == 1)
            let none = try device(stack, cn: "device-none", challenge: nil)
            #expect(try enroll(stack, none, transactionID: "tx-none").failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_challenge_missing") == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE request_source = 'scep'", stack.url) == 4)
        }
    }

    @Test("garbage is HTTP 400, a body over 1 MiB is 413, an envelope for another RA is FAILURE badMessageCheck; nothing is issued")
    func badInput() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            let operation = stack.scepURL + "?operation=PKIOperation"
            #expect(try post(operation, Array("garbage".utf8)).status == 400)
            #expect(try await auditCount(stack, code: "scep_malformed_message") == 1)
            #expect(try post(operation, [UInt8](repeating: 0x30, count: (1 << 20) + 10)).status == 413)
            #expect(try await auditCount(stack, code: "scep_body_too_large") == 1)
            let unknown = try await HTTP.get("http://127.0.0.1:\(stack.enrollPort)/scep/nope?operation=GetCACaps")
            #expect(unknown.status == 404)

            let device = try device(stack, cn: "device-other-ra", challenge: "static-secret-1")
            let other = try SCEPRAIdentity(certificate: device.identity.certificate, keyPEM: String(
                contentsOfFile: stack.ca.directory + "/device-other-ra.key", encoding: .utf8))
            let message = try SCEPClientMessage.pkcsReq(csrDER: device.csrDER, transactionID: "tx-other", senderNonce: Array(repeating: 7, count: 16),
                                                        client: device.identity, ra: other.certificate)
            let reply = try post(operation, message)
            #expect(reply.status == 200)
            let rep = try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: device.identity)
            #expect(rep.status == .failure && rep.failInfo == .badMessageCheck)
            #expect(rep.recipientNonce == Array(repeating: 7, count: 16))
            #expect(try await auditCount(stack, code: "scep_envelope_not_for_this_ra") == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE request_source = 'scep'", stack.url) == 0)
        }
    }

    /// An admin API call through curl: status and JSON body.
    func api(_ stack: Stack, _ method: String, _ path: String, key: String? = nil, json: String? = nil) throws -> (status: Int, json: [String: Any]) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-m", "30", "-o", out.path, "-w", "%{http_code}", "-X", method,
                          "-H", "Authorization: Bearer \(key ?? stack.apiKey)"]
            + (json.map { ["-H", "Content-Type: application/json", "-d", $0] } ?? [])
            + ["http://127.0.0.1:\(stack.adminPort)\(path)"]
        let pipe = Pipe()
        curl.standardOutput = pipe
        try curl.run()
        let status = Int(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) ?? 0
        curl.waitUntilExit()
        let data = (try? Data(contentsOf: out)) ?? Data()
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? ["raw": String(decoding: data, as: UTF8.self)])
    }

    @Test("require_approval: PKCSReq gets PENDING and is stored once; identical resends (even with a one-time challenge) and CertPoll get PENDING; a poll signed by another key is refused; after approval CertPoll and the resend get the certificate, which verifies; a rejected request gets FAILURE; deciding twice is 409; an auditor may read but not decide")
    func approval() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            let created = try api(stack, "POST", "/api/v1/scep/profiles", json: """
                {"name": "held", "issuer_id": "iss-local", "ra_cert_path": "\(stack.raCertPath)", "ra_key_path": "\(stack.ca.directory)/ra.key",
                 "static_challenge": "static-secret-2", "require_approval": true}
                """)
            #expect(created.status == 201, "\(created.json)")
            #expect(created.json["require_approval"] as? Bool == true)
            let heldURL = "http://127.0.0.1:\(stack.enrollPort)/scep/held?operation=PKIOperation"
            func send(_ message: [UInt8], as identity: SCEPRAIdentity) throws -> SCEPClientMessage.Reply {
                let reply = try post(heldURL, message)
                try #require(reply.status == 200, "HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                return try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: identity)
            }
            func count(_ sql: String) async throws -> Int { try await TestEnvironment.scalar(sql, stack.url) ?? -1 }
            let caPEM = try String(contentsOfFile: stack.ca.certPath, encoding: .utf8)
            let ca = try Certificate(pemEncoded: caPEM)

            // A: static challenge. The first message is held, its identical resend too, without a second row.
            let a = try device(stack, cn: "held-a", challenge: "static-secret-2")
            let messageA = try SCEPClientMessage.pkcsReq(csrDER: a.csrDER, transactionID: "tx-held-a", senderNonce: Array(repeating: 3, count: 16),
                                                         client: a.identity, ra: stack.ra.certificate)
            let first = try send(messageA, as: a.identity)
            let firstAudit = try await refusals(stack)
            #expect(first.status == .pending, "\(firstAudit)")
            #expect(first.recipientNonce == Array(repeating: 3, count: 16))
            #expect(try send(messageA, as: a.identity).status == .pending, "an identical resend is not a replay while pending")
            #expect(try await count("SELECT count(*) FROM enrollment_requests WHERE transaction_id = 'tx-held-a'") == 1)
            #expect(try await count("SELECT count(*) FROM certificates WHERE request_source = 'scep'") == 0, "nothing issued before approval")
            // A's key, same transaction, a CSR for another subject while pending: a conflict, not a second request.
            let dir = stack.ca.directory
            func csrA(_ file: String, cn: String, extra: [String] = []) throws -> [UInt8] {
                try TestCA.run("/usr/bin/openssl", ["req", "-new", "-key", "\(dir)/held-a.key", "-outform", "DER", "-out", "\(dir)/\(file)",
                                                    "-addext", "subjectAltName=DNS:held-a.example.com", "-config",
                                                    try config(dir, cn: cn, "static-secret-2")] + extra)
                return Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(file)")))
            }
            let conflict = try send(try SCEPClientMessage.pkcsReq(csrDER: try csrA("held-a-other.csr", cn: "held-a-other"), transactionID: "tx-held-a",
                                                                  senderNonce: Array(repeating: 13, count: 16), client: a.identity,
                                                                  ra: stack.ra.certificate), as: a.identity)
            #expect(conflict.status == .failure && conflict.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_transaction_conflict") == 1)

            // B: one-time challenge: the resend must not consume it again.
            let secretJSON = try api(stack, "POST", "/api/v1/scep/held/challenges", json: #"{"ttl_seconds": 600}"#)
            let secret = try #require(secretJSON.json["challenge"] as? String)
            let b = try device(stack, cn: "held-b", challenge: secret)
            let messageB = try SCEPClientMessage.pkcsReq(csrDER: b.csrDER, transactionID: "tx-held-b", senderNonce: Array(repeating: 4, count: 16),
                                                         client: b.identity, ra: stack.ra.certificate)
            #expect(try send(messageB, as: b.identity).status == .pending)
            #expect(try send(messageB, as: b.identity).status == .pending, "the resend does not present the used challenge again")
            #expect(try await auditCount(stack, code: "scep_challenge_reused") == 0)
            #expect(try await auditCount(stack, code: "scep_transaction_replayed") == 0)

            // CertPoll (GetCertInitial): by A -> PENDING; by another key -> refused; unknown transaction -> badCertID.
            let subjectA = try CertificateSigningRequest(derEncoded: a.csrDER).subject
            func poll(_ transactionID: String, as identity: SCEPRAIdentity) throws -> SCEPClientMessage.Reply {
                try send(try SCEPClientMessage.certPoll(issuer: ca.subject, subject: subjectA, transactionID: transactionID,
                                                        senderNonce: (0..<16).map { _ in UInt8.random(in: 0...255) },
                                                        client: identity, ra: stack.ra.certificate), as: identity)
            }
            #expect(try poll("tx-held-a", as: a.identity).status == .pending)
            let other = try device(stack, cn: "held-intruder", challenge: nil)
            let intruder = try poll("tx-held-a", as: other.identity)
            #expect(intruder.status == .failure && intruder.failInfo == .badMessageCheck)
            #expect(try await auditCount(stack, code: "scep_requester_mismatch") == 1)
            let unknown = try poll("tx-nobody", as: a.identity)
            #expect(unknown.status == .failure && unknown.failInfo == .badCertID)
            #expect(try await auditCount(stack, code: "scep_poll_unknown_transaction") == 1)

            // The operator's view.
            let auditorKey = APIKeyStore.generate()
            _ = try await TestEnvironment.withClient(stack.url) { client in
                try await APIKeyStore(client: client, logger: TestEnvironment.logger)
                    .ensure(key: auditorKey, role: .auditor, actor: "auditor-test", service: "test")
            }
            let listing = try api(stack, "GET", "/api/v1/enrollment/requests?status=pending&protocol=scep", key: auditorKey)
            #expect(listing.status == 200, "\(listing.json)")
            let items = try #require(listing.json["items"] as? [[String: Any]])
            #expect(items.count == 2)
            let requestA = try #require(items.first { $0["transaction_id"] as? String == "tx-held-a" })
            let requestB = try #require(items.first { $0["transaction_id"] as? String == "tx-held-b" })
            let idA = try #require(requestA["id"] as? String), idB = try #require(requestB["id"] as? String)
            #expect(requestA["subject"] as? String == subjectA.description)
            #expect(requestA["subject_alt_names"] as? [String] == ["DNS:held-a.example.com"])
            #expect(requestA["endpoint"] as? String == "held" && requestA["status"] as? String == "pending")
            #expect(try api(stack, "POST", "/api/v1/enrollment/requests/\(idA)/approve", key: auditorKey).status == 403)
            #expect(try api(stack, "GET", "/api/v1/enrollment/requests/\(UUID().uuidString)").status == 404)

            // Approve A: issued at once; a second approval is 409.
            let approved = try api(stack, "POST", "/api/v1/enrollment/requests/\(idA)/approve")
            #expect(approved.status == 200, "\(approved.json)")
            #expect(approved.json["status"] as? String == "issued")
            let certificateID = try #require(approved.json["certificate_id"] as? String)
            let again = try api(stack, "POST", "/api/v1/enrollment/requests/\(idA)/approve")
            #expect(again.status == 409 && again.json["error"] as? String == "enrollment_request_not_pending")
            #expect(try await count("SELECT count(*) FROM certificates WHERE request_source = 'scep' AND status = 'issued'") == 1)

            // A's poll now gets the certificate, enveloped to A; so does the identical resend.
            let success = try poll("tx-held-a", as: a.identity)
            #expect(success.status == .success)
            let certificate = try #require(success.certificates.first)
            #expect(certificate.publicKey == a.identity.certificate.publicKey)
            #expect(certificate.subject == subjectA)
            let pemPath = stack.ca.directory + "/held-a-issued.pem"
            try certificate.serializeAsPEM().pemString.write(toFile: pemPath, atomically: true, encoding: .utf8)
            try TestCA.run("/usr/bin/openssl", ["verify", "-CAfile", stack.ca.certPath, pemPath])
            #expect(try await count("SELECT count(*) FROM certificates WHERE id = '\(certificateID)' AND requested_by = 'scep:held'") == 1)
            let resent = try send(messageA, as: a.identity)
            #expect(resent.status == .success && resent.certificates.first == certificate)
            // certmonger's resubmit: same transaction, fresh nonce, a regenerated CSR for the same key, subject and SANs
            // (certmonger puts a new subjectKeyIdentifier in each): the approved certificate, not a new request.
            let regenerated = try csrA("held-a-again.csr", cn: "held-a", extra: ["-addext", "subjectKeyIdentifier=0A0B0C0D0E"])
            #expect(regenerated != a.csrDER)
            let resubmitted = try send(try SCEPClientMessage.pkcsReq(csrDER: regenerated, transactionID: "tx-held-a",
                                                                     senderNonce: Array(repeating: 14, count: 16), client: a.identity,
                                                                     ra: stack.ra.certificate), as: a.identity)
            #expect(resubmitted.status == .success && resubmitted.certificates.first == certificate)
            #expect(try await count("SELECT count(*) FROM enrollment_requests WHERE transaction_id = 'tx-held-a'") == 1)

            // Reject B: its resend gets FAILURE badRequest; deciding again is 409.
            let rejected = try api(stack, "POST", "/api/v1/enrollment/requests/\(idB)/reject", json: #"{"reason": "unknown device"}"#)
            #expect(rejected.status == 200 && rejected.json["status"] as? String == "rejected", "\(rejected.json)")
            #expect(rejected.json["reason"] as? String == "unknown device")
            let refused = try send(messageB, as: b.identity)
            #expect(refused.status == .failure && refused.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_request_rejected") == 1)
            #expect(try api(stack, "POST", "/api/v1/enrollment/requests/\(idB)/approve").status == 409)
            #expect(try api(stack, "POST", "/api/v1/enrollment/requests/\(idB)/reject", json: #"{"reason": "twice"}"#).status == 409)
            #expect(try api(stack, "POST", "/api/v1/enrollment/requests/\(idA)/reject", json: #"{"reason": ""}"#).status == 400)

            // Two operators approving C at the same moment: one issues, the other gets 409; one certificate.
            let c = try device(stack, cn: "held-c", challenge: "static-secret-2")
            #expect(try send(try SCEPClientMessage.pkcsReq(csrDER: c.csrDER, transactionID: "tx-held-c", senderNonce: Array(repeating: 8, count: 16),
                                                           client: c.identity, ra: stack.ra.certificate), as: c.identity).status == .pending)
            let pendingC = try api(stack, "GET", "/api/v1/enrollment/requests?status=pending")
            let idC = try #require((pendingC.json["items"] as? [[String: Any]])?.first { $0["transaction_id"] as? String == "tx-held-c" }?["id"] as? String)
            async let approveOne = api(stack, "POST", "/api/v1/enrollment/requests/\(idC)/approve")
            async let approveTwo = api(stack, "POST", "/api/v1/enrollment/requests/\(idC)/approve")
            let statuses = try await [approveOne.status, approveTwo.status].sorted()
            #expect(statuses == [200, 409])

            for (action, expected) in [("enrollment_request.create", 3), ("enrollment_request.approve", 2), ("enrollment_request.reject", 1)] {
                #expect(try await count("SELECT count(*) FROM audit_events WHERE action = '\(action)' AND outcome = 'success'") == expected, "\(action)")
            }
            #expect(try await count("SELECT count(*) FROM certificates WHERE request_source = 'scep'") == 2)
        }
    }

    @Test("require_approval: a CSR the certificate profile refuses gets FAILURE at once and is not stored; a request whose profile changed before approval becomes failed (422), audited, and its requester gets FAILURE; with the signer down an approval is 503 and the request stays pending")
    func approvalFailures() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            func count(_ sql: String) async throws -> Int { try await TestEnvironment.scalar(sql, stack.url) ?? -1 }
            let profileBody = #"{"id": "strict", "allowed_key_algorithms": ["rsa-2048"], "max_validity_days": 30, "allowed_san_types": ["dns"], "san_patterns": ["*.example.com"]}"#
            #expect(try api(stack, "POST", "/api/v1/profiles", json: profileBody).status == 201)
            #expect(try api(stack, "POST", "/api/v1/scep/profiles", json: """
                {"name": "held-strict", "issuer_id": "iss-local", "profile_id": "strict", "ra_cert_path": "\(stack.raCertPath)",
                 "ra_key_path": "\(stack.ca.directory)/ra.key", "static_challenge": "static-secret-3", "require_approval": true}
                """).status == 201)
            let url = "http://127.0.0.1:\(stack.enrollPort)/scep/held-strict?operation=PKIOperation"
            func send(_ message: [UInt8], as identity: SCEPRAIdentity) throws -> SCEPClientMessage.Reply {
                let reply = try post(url, message)
                try #require(reply.status == 200, "HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                return try SCEPClientMessage.readCertRep(reply.body, ra: stack.ra.certificate, client: identity)
            }

            // An RSA-3072 CSR: refused now, not put in front of an operator.
            let dir = stack.ca.directory
            try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", "\(dir)/big.key",
                                                "-out", "\(dir)/big.crt", "-subj", "/CN=held-big", "-days", "1"])
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-key", "\(dir)/big.key", "-outform", "DER", "-out", "\(dir)/big.csr",
                                                "-config", try config(dir, cn: "held-big", "static-secret-3")])
            let big = try SCEPRAIdentity(certificate: Certificate(pemEncoded: String(contentsOfFile: "\(dir)/big.crt", encoding: .utf8)),
                                         keyPEM: String(contentsOfFile: "\(dir)/big.key", encoding: .utf8))
            let bigCSR = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/big.csr")))
            let refused = try send(try SCEPClientMessage.pkcsReq(csrDER: bigCSR, transactionID: "tx-big", senderNonce: Array(repeating: 5, count: 16),
                                                                 client: big, ra: stack.ra.certificate), as: big)
            #expect(refused.status == .failure && refused.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_issuance_refused_key_not_allowed") == 1)
            #expect(try await count("SELECT count(*) FROM enrollment_requests") == 0)

            // An RSA-2048 request is held; then the profile stops allowing RSA-2048; the approval fails for good.
            let d = try device(stack, cn: "held-d", challenge: "static-secret-3")
            let message = try SCEPClientMessage.pkcsReq(csrDER: d.csrDER, transactionID: "tx-held-d", senderNonce: Array(repeating: 6, count: 16),
                                                        client: d.identity, ra: stack.ra.certificate)
            let heldD = try send(message, as: d.identity)
            let heldAudit = try await refusals(stack)
            #expect(heldD.status == .pending, "\(heldAudit)")
            let listing = try api(stack, "GET", "/api/v1/enrollment/requests?status=pending")
            let id = try #require((listing.json["items"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try api(stack, "PUT", "/api/v1/profiles/strict",
                            json: #"{"allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30, "allowed_san_types": ["dns"], "san_patterns": ["*.example.com"]}"#).status == 200)
            let approved = try api(stack, "POST", "/api/v1/enrollment/requests/\(id)/approve")
            #expect(approved.status == 422 && approved.json["error"] as? String == "enrollment_request_failed", "\(approved.json)")
            let after = try api(stack, "GET", "/api/v1/enrollment/requests/\(id)")
            #expect(after.json["status"] as? String == "failed")
            #expect((after.json["reason"] as? String)?.hasPrefix("key_not_allowed") == true, "\(after.json)")
            #expect(try await count("""
                SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.approve' AND outcome = 'failure' AND error_code = 'key_not_allowed'
                """) == 1)
            let answer = try send(message, as: d.identity)
            #expect(answer.status == .failure && answer.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_request_failed") == 1)
            #expect(try await count("SELECT count(*) FROM certificates WHERE request_source = 'scep' AND status = 'issued'") == 0)

            // Signer down: the approval is 503 and decides nothing; the request stays pending.
            #expect(try api(stack, "PUT", "/api/v1/profiles/strict",
                            json: #"{"allowed_key_algorithms": ["rsa-2048"], "max_validity_days": 30, "allowed_san_types": ["dns"], "san_patterns": ["*.example.com"]}"#).status == 200)
            let e = try device(stack, cn: "held-e", challenge: "static-secret-3")
            #expect(try send(try SCEPClientMessage.pkcsReq(csrDER: e.csrDER, transactionID: "tx-held-e", senderNonce: Array(repeating: 7, count: 16),
                                                           client: e.identity, ra: stack.ra.certificate), as: e.identity).status == .pending)
            let pendingE = try api(stack, "GET", "/api/v1/enrollment/requests?status=pending")
            let idE = try #require((pendingE.json["items"] as? [[String: Any]])?.first?["id"] as? String)
            _ = await children[1].stop()
            let down = try api(stack, "POST", "/api/v1/enrollment/requests/\(idE)/approve")
            #expect(down.status == 503 && down.json["error"] as? String == "signer_unavailable", "\(down.json)")
            #expect(try api(stack, "GET", "/api/v1/enrollment/requests/\(idE)").json["status"] as? String == "pending")
            #expect(try await count("SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.approve' AND target_id = '\(idE)'") == 0)
        }
    }

    @Test("an RA key readable by group or others stops certctl-enroll at start with exit 78")
    func insecureRAKey() async throws {
        try await withStack(raKeyMode: 0o644) { stack, children in
            let status = await children[2].waitForExit(timeout: .seconds(20))
            #expect(status == 78, "stderr: \(children[2].stderr.suffix(800))")
            #expect(children[2].stderr.contains("CERTCTL_SCEP_BOOTSTRAP_RA_KEY"))
        }
    }
}
