import CertctlEnrollCore
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import Testing
import X509

/// The SCEP messages captured from real clients in Tests/Fixtures/scep (its
/// README says which client, version and command made each), enveloped to
/// the fixture RA there.
enum SCEPFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/scep")

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: directory.appendingPathComponent(name))) }
    static func text(_ name: String) throws -> String { try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) }
    static func challenge() throws -> String { try text("challenge.txt").trimmingCharacters(in: .whitespacesAndNewlines) }
    static func ra() throws -> SCEPRAIdentity {
        try SCEPRAIdentity(certificate: Certificate(pemEncoded: text("ra.crt")), keyPEM: text("ra.key"))
    }

    /// One captured pkiMessage and what the client itself says it put in it.
    struct Vector: Sendable, CustomTestStringConvertible {
        let file: String
        /// The client's key file (it signed the message; the CertRep is enveloped to it).
        let keyFile: String
        /// The client's own CSR (scepclient's csr.pem, certmonger's request state), DER.
        let csrFile: String
        let messageType: SCEPMessageType
        let transactionID: String
        let digest: CMSDigest
        let cipher: CMSContentCipher
        let subject: String
        var testDescription: String { file }

        func message() throws -> [UInt8] { try bytes(file) }
        func csrDER() throws -> [UInt8] { try bytes(csrFile) }

        /// The client as the responder sees it: the message's signer certificate with the client's key.
        func client() throws -> SCEPRAIdentity {
            try SCEPRAIdentity(certificate: SCEPPKIMessage.parse(message()).signerCertificate, keyPEM: text(keyFile))
        }
    }

    static let scepclient = Vector(
        file: "scepclient-pkcsreq.der", keyFile: "scepclient.key", csrFile: "scepclient-csr.der", messageType: .pkcsReq,
        transactionID: "GdbT/50n6tJhxWOLoFFwNiPHATQ=", digest: .sha1, cipher: .des,
        subject: "CN=scepclient-fixture,OU=capture,O=certctl-fixtures,C=DE")
    static let certmonger = Vector(
        file: "certmonger-pkcsreq.der", keyFile: "certmonger.key", csrFile: "certmonger-csr.der", messageType: .pkcsReq,
        transactionID: "2662932849134287357636610008833662399650821197959123031088615983669984237266", digest: .sha256,
        cipher: .aes256, subject: "CN=certmonger-fixture")
    static let certmongerPoll = Vector(
        file: "certmonger-getcertinitial.der", keyFile: "certmonger.key", csrFile: "certmonger-csr.der", messageType: .certPoll,
        transactionID: certmonger.transactionID, digest: .sha256, cipher: .aes256, subject: certmonger.subject)
    static let pkcsReqs = [scepclient, certmonger]
}

/// SCEPResponder in-process on the captured vectors, with a real database and
/// (where issuance happens) a real certctl-signer.
@Suite("SCEP responder on captured client messages", .serialized, .timeLimit(.minutes(5)))
struct SCEPResponderTests {
    /// The endpoints every test gets; all use the fixture RA unless named otherwise.
    enum Endpoint: String, CaseIterable {
        case devices            // the fixture's static challenge, issues at once
        case held               // same, requests wait for approval
        case otherChallenge = "other-challenge"
        case once               // one-time challenges only
        case otherRA = "other-ra"   // the fixture challenge, another RA key
    }

    struct Context {
        let harness: SCEPESTHarness
        /// With CERTCTL_SCEP_ALLOW_SINGLE_DES on: the captured scepclient (micromdm 2.1.0) envelopes with single DES.
        let responder: SCEPResponder
        /// With the default configuration: single DES refused.
        let strict: SCEPResponder
        /// Single DES on, two wrong challenges per source and minute.
        let throttled: SCEPResponder
        let ra: SCEPRAIdentity
        let otherRA: SCEPRAIdentity
        let store: EnrollmentSCEPStore

        func send(_ bytes: [UInt8], to endpoint: Endpoint) async throws -> SCEPResponder.Reply {
            let record = try #require(try await store.get(endpoint.rawValue))
            return await responder.pkiOperation(record, body: bytes, remote: "tests")
        }

        /// Sends `bytes` and reads the CertRep (signed by the endpoint's RA, enveloped to `client`).
        func certRep(_ bytes: [UInt8], to endpoint: Endpoint, client: SCEPRAIdentity) async throws -> SCEPClientMessage.Reply {
            let reply = try await send(bytes, to: endpoint)
            guard case .message(let der) = reply else {
                Issue.record("expected a CertRep, got \(reply)")
                throw CertRepMissing()
            }
            return try SCEPClientMessage.readCertRep(der, ra: (endpoint == .otherRA ? otherRA : ra).certificate, client: client)
        }
    }

    struct CertRepMissing: Error {}

    func withResponder(_ body: (Context) async throws -> Void) async throws {
        try await SCEPESTHarness.run { h in
            // RA files as certctl-enroll reads them: the key must be mode 0600 (git checks it out 0644).
            let directory = h.ca.directory + "/scep-ra"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(try SCEPFixtures.bytes("ra.crt")).write(to: URL(fileURLWithPath: directory + "/ra.crt"))
            try Data(try SCEPFixtures.bytes("ra.key")).write(to: URL(fileURLWithPath: directory + "/ra.key"))
            chmod(directory + "/ra.key", 0o600)
            try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/other.key",
                                                "-out", directory + "/other.crt", "-subj", "/CN=another SCEP RA", "-days", "2"])
            chmod(directory + "/other.key", 0o600)
            let store = EnrollmentSCEPStore(client: h.client, logger: h.logger)
            let challenge = Array(SHA256.hash(data: Data(try SCEPFixtures.challenge().utf8)))
            for endpoint in Endpoint.allCases {
                let other = endpoint == .otherRA
                try await store.create(SCEPEndpointRecord(
                    name: endpoint.rawValue, issuerID: "iss-local", profileID: "default",
                    raCertPath: directory + (other ? "/other.crt" : "/ra.crt"), raKeyPath: directory + (other ? "/other.key" : "/ra.key"),
                    staticChallengeSHA256: endpoint == .once ? nil
                        : endpoint == .otherChallenge ? Array(SHA256.hash(data: Data("another-challenge".utf8))) : challenge,
                    allowOneTimeChallenges: endpoint == .once, validityDays: nil, requireApproval: endpoint == .held),
                    audit: AuditRecord(service: "tests", actor: "tests", action: "scep_profile.create", outcome: .success))
            }
            func responder(allowSingleDES: Bool, perSource: Int = 10) -> SCEPResponder {
                SCEPResponder(
                    store: store, issuers: IssuerStore(client: h.client, logger: h.logger), raKeys: SCEPRAKeyCache(), issuance: h.issuance,
                    certificates: CertificateRecordStore(client: h.client, logger: h.logger), trustAnchors: TrustAnchorHolder(),
                    approvals: h.approvals, audit: h.audit, metrics: h.metrics, logger: h.logger, allowSingleDES: allowSingleDES,
                    challengeThrottle: ChallengeThrottle(perSource: perSource, perEndpoint: 100))
            }
            let otherRA = try SCEPRAIdentity(
                certificate: Certificate(pemEncoded: String(contentsOfFile: directory + "/other.crt", encoding: .utf8)),
                keyPEM: String(contentsOfFile: directory + "/other.key", encoding: .utf8))
            try await body(Context(harness: h, responder: responder(allowSingleDES: true), strict: responder(allowSingleDES: false),
                                   throttled: responder(allowSingleDES: true, perSource: 2),
                                   ra: try SCEPFixtures.ra(), otherRA: otherRA, store: store))
        }
    }

    // MARK: the vectors themselves

    @Test("a captured PKCSReq verifies with its signer's certificate and opens with the fixture RA to the client's own CSR",
          arguments: SCEPFixtures.pkcsReqs)
    func pkcsReqOpens(_ vector: SCEPFixtures.Vector) throws {
        let message = try SCEPPKIMessage.parse(try vector.message())
        #expect(message.messageType == vector.messageType)
        #expect(message.transactionID == vector.transactionID)
        #expect(message.senderNonce.count == 16)
        #expect(message.digest == vector.digest)
        #expect(message.contentCipher() == vector.cipher)
        #expect(try message.open(with: try SCEPFixtures.ra()) == (try vector.csrDER()))
        let csr = try CertificateSigningRequest(derEncoded: try vector.csrDER())
        #expect(csr.subject.description == vector.subject)
        #expect(try csr.challengePassword == (try SCEPFixtures.challenge()))
        #expect(message.signerCertificate.publicKey == csr.publicKey, "PKCSReq is signed with the key being certified")
    }

    @Test("certmonger's captured GetCertInitial is a CertPoll for its PKCSReq's transaction, naming the fixture CA and the requested subject")
    func getCertInitialOpens() throws {
        let poll = try SCEPPKIMessage.parse(try SCEPFixtures.certmongerPoll.message())
        let request = try SCEPPKIMessage.parse(try SCEPFixtures.certmonger.message())
        #expect(poll.messageType == .certPoll)
        #expect(poll.transactionID == request.transactionID)
        #expect(poll.signerCertificate.publicKey == request.signerCertificate.publicKey)
        let asked = try SCEPIssuerAndSubject.parse(try poll.open(with: try SCEPFixtures.ra()))
        #expect(asked.issuer == (try Certificate(pemEncoded: try SCEPFixtures.text("ca.crt"))).subject)
        #expect(asked.subject.description == SCEPFixtures.certmonger.subject)
    }

    // MARK: issuance

    @Test("the responder issues for a captured PKCSReq: CertRep SUCCESS for its transaction, enveloped to the client, certifying the CSR's key and subject",
          arguments: SCEPFixtures.pkcsReqs)
    func issues(_ vector: SCEPFixtures.Vector) async throws {
        try await withResponder { c in
            let message = try SCEPPKIMessage.parse(try vector.message())
            let reply = try await c.certRep(try vector.message(), to: .devices, client: try vector.client())
            #expect(reply.status == .success)
            #expect(reply.transactionID == vector.transactionID)
            #expect(reply.recipientNonce == message.senderNonce)
            let certificate = try #require(reply.certificates.first)
            let csr = try CertificateSigningRequest(derEncoded: try vector.csrDER())
            #expect(certificate.publicKey == csr.publicKey)
            #expect(certificate.subject == csr.subject)
            #expect(c.harness.caCertificate.publicKey.isValidSignature(certificate.signature, for: certificate))
            #expect(try await c.harness.count("""
                SELECT count(*)::int FROM certificates WHERE status = 'issued' AND request_source = 'scep' AND requested_by = 'scep:devices'
                """) == 1)
            #expect(try await c.harness.count("""
                SELECT count(*)::int FROM scep_transactions WHERE status = 'issued' AND transaction_id LIKE '\(vector.transactionID)/%'
                """) == 1)
            #expect(try await c.harness.count(
                "SELECT count(*)::int FROM audit_events WHERE action = 'scep.enroll' AND outcome = 'success'") == 1)
        }
    }

    @Test("a captured PKCSReq sent a second time is a replay: FAILURE badRequest, audited scep_transaction_replayed, nothing changed")
    func replay() async throws {
        try await withResponder { c in
            let vector = SCEPFixtures.certmonger
            #expect(try await c.certRep(try vector.message(), to: .devices, client: try vector.client()).status == .success)
            try await c.harness.expectRefusedWithoutChange("scep_transaction_replayed") {
                let again = try await c.certRep(try vector.message(), to: .devices, client: try vector.client())
                #expect(again.status == .failure)
                #expect(again.failInfo == .badRequest)
                #expect(again.certificates.isEmpty)
            }
        }
    }

    @Test("a one-time challenge is used once: scepclient's captured PKCSReq consumes it, certmonger's with the same challenge is FAILURE badRequest scep_challenge_reused")
    func oneTimeChallengeReused() async throws {
        try await withResponder { c in
            _ = try await c.store.mintChallenge(
                profile: Endpoint.once.rawValue, secretSHA256: Array(SHA256.hash(data: Data(try SCEPFixtures.challenge().utf8))),
                expectedSubject: nil, expectedSANs: nil, expiresAt: Date().addingTimeInterval(600), createdBy: "tests",
                audit: AuditRecord(service: "tests", actor: "tests", action: "scep_challenge.create", outcome: .success))
            let first = SCEPFixtures.scepclient, second = SCEPFixtures.certmonger
            #expect(try await c.certRep(try first.message(), to: .once, client: try first.client()).status == .success)
            try await c.harness.expectRefusedWithoutChange("scep_challenge_reused") {
                let reply = try await c.certRep(try second.message(), to: .once, client: try second.client())
                #expect(reply.status == .failure)
                #expect(reply.failInfo == .badRequest)
            }
        }
    }

    // MARK: approval

    @Test("on an endpoint that requires approval a captured PKCSReq is held: PENDING, stored with the client's CSR, transactionID and messageType",
          arguments: SCEPFixtures.pkcsReqs)
    func held(_ vector: SCEPFixtures.Vector) async throws {
        try await withResponder { c in
            let reply = try await c.certRep(try vector.message(), to: .held, client: try vector.client())
            #expect(reply.status == .pending)
            #expect(reply.transactionID == vector.transactionID)
            let stored = try #require(try await c.harness.approvals.latestSCEP(endpoint: "held", transactionID: vector.transactionID))
            #expect(stored.status == .pending)
            #expect(stored.csrDER == (try vector.csrDER()))
            #expect(stored.operation == "PKCSReq")
            #expect(stored.subject == vector.subject)
            #expect(try await c.harness.count("SELECT count(*)::int FROM certificates") == 0)
        }
    }

    @Test("certmonger's captured GetCertInitial gets PENDING while its request waits and FAILURE badRequest once it is rejected, changing nothing")
    func getCertInitial() async throws {
        try await withResponder { c in
            let request = SCEPFixtures.certmonger, poll = SCEPFixtures.certmongerPoll
            #expect(try await c.certRep(try request.message(), to: .held, client: try request.client()).status == .pending)
            let before = try await c.harness.contents()
            let waiting = try await c.certRep(try poll.message(), to: .held, client: try poll.client())
            #expect(waiting.status == .pending)
            #expect(waiting.transactionID == poll.transactionID)
            #expect(try await c.harness.contents() == before)
            let held = try #require(try await c.harness.approvals.latestSCEP(endpoint: "held", transactionID: poll.transactionID))
            _ = try await c.harness.approvals.reject(held.id, actor: "tests", reason: "not ours", audit: AuditRecord(
                service: "tests", actor: "tests", action: "enrollment_request.reject", outcome: .success))
            try await c.harness.expectRefusedWithoutChange("scep_request_rejected") {
                let rejected = try await c.certRep(try poll.message(), to: .held, client: try poll.client())
                #expect(rejected.status == .failure)
                #expect(rejected.failInfo == .badRequest)
            }
        }
    }

    @Test("certmonger's captured GetCertInitial for a transaction the endpoint never saw is FAILURE badCertID and changes nothing")
    func getCertInitialUnknownTransaction() async throws {
        try await withResponder { c in
            let poll = SCEPFixtures.certmongerPoll
            try await c.harness.expectRefusedWithoutChange("scep_poll_unknown_transaction") {
                let reply = try await c.certRep(try poll.message(), to: .held, client: try poll.client())
                #expect(reply.status == .failure)
                #expect(reply.failInfo == .badCertID)
            }
        }
    }

    // MARK: refusals

    /// A captured message changed (or sent where it does not belong) and how it must be refused.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let vector: SCEPFixtures.Vector
        let endpoint: Endpoint
        /// nil: answered with HTTP 400 (the message cannot be read, so there is nobody to send a CertRep to).
        let failInfo: SCEPFailInfo?
        let code: String
        var change: @Sendable ([UInt8]) throws -> [UInt8] = { $0 }
        var testDescription: String { "\(vector.file), \(name) -> \(code)" }
    }

    /// `message` with the byte at `index` flipped.
    static func flipped(_ message: [UInt8], at index: Int) -> [UInt8] {
        var copy = message
        copy[index] ^= 0x01
        return copy
    }

    /// Where `part` starts inside `whole`.
    static func offset(of part: [UInt8], in whole: [UInt8]) throws -> Int {
        try #require((0...(whole.count - part.count)).first { whole[$0..<($0 + part.count)].elementsEqual(part) })
    }

    static let refusals: [Refusal] = [
        // The RSA signature is the last field of the only SignerInfo, which ends the message.
        Refusal(name: "last byte of the signature flipped", vector: SCEPFixtures.scepclient, endpoint: .devices,
                failInfo: .badMessageCheck, code: "scep_bad_signature") { flipped($0, at: $0.count - 1) },
        Refusal(name: "a byte of the enveloped content flipped", vector: SCEPFixtures.certmonger, endpoint: .devices,
                failInfo: .badMessageCheck, code: "scep_message_digest_mismatch") { message in
            let content = Array(try #require(try CMS.signedData(message).encapContentInfo.eContent))
            return flipped(message, at: try offset(of: content, in: message) + content.count / 2)
        },
        Refusal(name: "sent to an endpoint with another RA", vector: SCEPFixtures.certmonger, endpoint: .otherRA,
                failInfo: .badMessageCheck, code: "scep_envelope_not_for_this_ra"),
        Refusal(name: "sent to an endpoint with another static challenge", vector: SCEPFixtures.scepclient, endpoint: .otherChallenge,
                failInfo: .badRequest, code: "scep_challenge_invalid"),
        Refusal(name: "garbage", vector: SCEPFixtures.scepclient, endpoint: .devices, failInfo: nil, code: "scep_malformed_message") { _ in
            Array("this is not a pkiMessage".utf8)
        },
        Refusal(name: "the first half of the message", vector: SCEPFixtures.certmonger, endpoint: .devices, failInfo: nil,
                code: "scep_malformed_message") { Array($0.prefix($0.count / 2)) },
        Refusal(name: "the inner EnvelopedData alone", vector: SCEPFixtures.certmonger, endpoint: .devices, failInfo: nil,
                code: "scep_wrong_content_type") { Array(try #require(try CMS.signedData($0).encapContentInfo.eContent)) },
    ]

    @Test("after two wrong challenges in a minute a source is refused scep_challenge_throttled without its challenge being checked; another source keeps its own budget")
    func challengeThrottle() async throws {
        try await withResponder { c in
            func send(from source: String) async throws {
                let record = try #require(try await c.store.get(Endpoint.otherChallenge.rawValue))
                guard case .message = await c.throttled.pkiOperation(record, body: try SCEPFixtures.scepclient.message(), remote: source) else {
                    Issue.record("expected a CertRep FAILURE")
                    return
                }
            }
            for _ in 0..<2 { try await send(from: "198.51.100.7") }
            #expect(try await c.harness.refusals("scep_challenge_invalid") == 2)
            try await send(from: "198.51.100.7")
            #expect(try await c.harness.refusals("scep_challenge_throttled") == 1, "the third wrong challenge is not even checked")
            #expect(try await c.harness.refusals("scep_challenge_invalid") == 2)
            try await send(from: "198.51.100.8")
            #expect(try await c.harness.refusals("scep_challenge_invalid") == 3, "another source has its own budget")
            #expect(try await c.harness.count("SELECT count(*) FROM certificates") == 0)
        }
    }

    @Test("by default (CERTCTL_SCEP_ALLOW_SINGLE_DES off) scepclient's single-DES PKCSReq is FAILURE badAlg scep_single_des_disabled, audited, and issues nothing; certmonger's AES one still issues")
    func singleDESOffByDefault() async throws {
        try await withResponder { c in
            let vector = SCEPFixtures.scepclient
            #expect(try SCEPPKIMessage.parse(try vector.message()).contentEncryptionAlgorithm == CMSOID.desCBC, "the fixture is single DES")
            try await c.harness.expectRefusedWithoutChange("scep_single_des_disabled") {
                let record = try #require(try await c.store.get(Endpoint.devices.rawValue))
                guard case .message(let der) = await c.strict.pkiOperation(record, body: try vector.message(), remote: "tests") else {
                    Issue.record("expected a CertRep FAILURE")
                    return
                }
                let certRep = try SCEPClientMessage.readCertRep(der, ra: c.ra.certificate, client: try vector.client())
                #expect(certRep.status == .failure && certRep.failInfo == .badAlg)
            }
            let record = try #require(try await c.store.get(Endpoint.devices.rawValue))
            guard case .message(let der) = await c.strict.pkiOperation(record, body: try SCEPFixtures.certmonger.message(), remote: "tests") else {
                Issue.record("expected a CertRep")
                return
            }
            let certRep = try SCEPClientMessage.readCertRep(der, ra: c.ra.certificate, client: try SCEPFixtures.certmonger.client())
            #expect(certRep.status == .success, "AES is not affected")
        }
    }

    @Test("a refused message gets its failInfo (or HTTP 400 when unreadable), is audited with its code, and changes nothing",
          arguments: refusals)
    func refused(_ refusal: Refusal) async throws {
        try await withResponder { c in
            let bytes = try refusal.change(try refusal.vector.message())
            try await c.harness.expectRefusedWithoutChange(refusal.code) {
                let reply = try await c.send(bytes, to: refusal.endpoint)
                switch (reply, refusal.failInfo) {
                case (.message(let der), let failInfo?):
                    let ra = refusal.endpoint == .otherRA ? c.otherRA : c.ra
                    let certRep = try SCEPClientMessage.readCertRep(der, ra: ra.certificate, client: try refusal.vector.client())
                    #expect(certRep.status == .failure)
                    #expect(certRep.failInfo == failInfo)
                    #expect(certRep.transactionID == refusal.vector.transactionID)
                case (.httpError(let status, let code, _), nil):
                    #expect(status == 400)
                    #expect(code == refusal.code)
                default:
                    Issue.record("unexpected reply \(reply)")
                }
            }
        }
    }
}
