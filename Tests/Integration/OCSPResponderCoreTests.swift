import CertctlConfig
import CertctlOCSPCore
import CertctlPKI
import CertctlRPC
import CertctlStore
import Crypto
import Foundation
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// certctl-ocsp's responder core in-process, as certctl-ocsp builds it, on a
/// real Postgres (as the ocsp role) with a real certctl-signer certifying its
/// delegated responder key.
@Suite("OCSP responder core", .timeLimit(.minutes(2)))
struct OCSPResponderCoreTests {
    struct Harness {
        let url: DatabaseURL
        let core: OCSPResponderCore
        let signer: RunningSigner
        let good: [UInt8], revoked: [UInt8], unknown: [UInt8]
        /// Another replica on the same database and signer, with its own responder key.
        let otherReplica: OCSPResponderCore

        func certID(_ serial: [UInt8], _ algorithm: OCSPHashAlgorithm = .sha1, issuer: Certificate? = nil) throws -> OCSPCertID {
            let ca = issuer ?? signer.issuer
            return OCSPCertID(hashAlgorithm: algorithm, issuerNameHash: algorithm.hash(try ReservationFields.subjectDER(ca.subject)),
                              issuerKeyHash: algorithm.hash(ca.publicKey.subjectPublicKeyInfoBytes), serialNumber: serial)
        }

        func ask(_ ids: [OCSPCertID], nonce: [UInt8]? = nil, issuerID: String = "iss-local") async throws -> (OCSPAnswer, OCSPResponse) {
            var serializer = DER.Serializer()
            try serializer.serialize(OCSPRequest(certIDs: ids, nonce: nonce))
            let answer = await core.answer(issuerID: issuerID, der: serializer.serializedBytes)
            return (answer, try OCSPResponse(derEncoded: answer.body))
        }
    }

    static func withCore(_ body: (Harness) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await RunningSigner.run(url, callers: ["ocsp"]) { signer in
                // one issued and one revoked (keyCompromise) certificate of generation 1
                let good = SerialNumber.random(), revoked = SerialNumber.random()
                for (serial, status) in [(good, "issued"), (revoked, "revoked")] {
                    let hex = try #require(SerialNumber.canonicalHex(ofDERInteger: serial[...]))
                    try await TestEnvironment.execute("""
                        INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, requested_by, certificate_der, not_after)
                        VALUES ('iss-local', 1, '\(hex)', '\(status)', 'tests', '\\x30', now() + interval '30 days')
                        """, url)
                }
                let revokedHex = try #require(SerialNumber.canonicalHex(ofDERInteger: revoked[...]))
                try await TestEnvironment.execute("""
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                    SELECT id, 'iss-local', serial_hex, 1, to_timestamp(1795000000), 'tests' FROM certificates WHERE serial_hex = '\(revokedHex)'
                    """, url)
                func config(_ keys: String) throws -> OCSPConfig {
                    try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                    return try OCSPConfig(Environment([
                        "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .ocsp), "CERTCTL_OCSP_RESPONDER_KEY_DIR": keys,
                    ].merging(signer.identities.environment(for: "ocsp")) { a, _ in a }))
                }
                let database = Database(url: TestEnvironment.url(url, as: .ocsp), maximumConnections: 4, logger: TestEnvironment.logger)
                try await signer.withConnection("ocsp") { connection in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { await database.run() }
                        defer { group.cancelAll() }
                        let core = OCSPService.core(try config(signer.ca.directory + "/ocsp-keys"), client: database.client,
                                                    signer: connection.signing, logger: TestEnvironment.logger)
                        let other = OCSPService.core(try config(signer.ca.directory + "/ocsp-keys-2"), client: database.client,
                                                     signer: connection.signing, logger: TestEnvironment.logger)
                        try await body(Harness(url: url, core: core, signer: signer, good: good, revoked: revoked,
                                               unknown: SerialNumber.random(), otherReplica: other))
                    }
                }
            }
        }
    }

    @Test("good, revoked (time and reason) and unknown for SHA-1 and SHA-256 CertIDs, signed by a delegated responder the signer certified and recorded")
    func statuses() async throws {
        try await Self.withCore { h in
            for algorithm in OCSPHashAlgorithm.allCases {
                let (answer, response) = try await h.ask([try h.certID(h.good, algorithm), try h.certID(h.revoked, algorithm),
                                                          try h.certID(h.unknown, algorithm)])
                #expect(answer.status == .successful && response.status == .successful)
                let statuses = try #require(response.responseData?.responses).map(\.certStatus)
                #expect(statuses == [.good, .revoked(time: Date(timeIntervalSince1970: 1_795_000_000), reason: 1), .unknown],
                        "\(algorithm)")
                // signed by the responder certificate it carries, which the CA issued for OCSP signing
                let responder = try Certificate(derEncoded: try #require(response.certificates.first))
                #expect(h.signer.issuer.publicKey.isValidSignature(responder.signature, for: responder))
                #expect(Array(try #require(try responder.extensions.extendedKeyUsage)) == [.ocspSigning])
                let key = try #require(P256.Signing.PublicKey(responder.publicKey))
                #expect(key.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: response.signature),
                                             for: response.responseDataBytes))
            }
            // the responder certificate is a recorded, audited certificate
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE request_source = 'ocsp-responder' AND status = 'issued'", h.url) == 1)
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE action = 'certificate.issue' AND actor = 'certctl-ocsp'
                AND details->>'purpose' = 'ocsp-responder'
                """, h.url) == 1)
        }
    }

    @Test("a nonce is echoed and its answer never cached; a single CertID without one is cacheable")
    func nonce() async throws {
        try await Self.withCore { h in
            let nonce: [UInt8] = Array(repeating: 7, count: 16)
            let (withNonce, response) = try await h.ask([try h.certID(h.good)], nonce: nonce)
            #expect(response.responseData?.nonce == nonce)
            #expect(!withNonce.isCacheable)
            let (plain, plainResponse) = try await h.ask([try h.certID(h.good)])
            #expect(plainResponse.responseData?.nonce == nil)
            #expect(plain.isCacheable)
        }
    }

    @Test("replicas with their own responder keys serve one serial's no-nonce answer byte for byte (one ETag behind a balancer), whichever signed it first, also after a nonce request")
    func replicasAgree() async throws {
        try await Self.withCore { h in
            func request(nonce: [UInt8]?) throws -> [UInt8] {
                var serializer = DER.Serializer()
                try serializer.serialize(OCSPRequest(certIDs: [try h.certID(h.good)], nonce: nonce))
                return serializer.serializedBytes
            }
            // the first request anywhere carries a nonce: the replica's shared answer is made then
            _ = try await h.ask([try h.certID(h.good)], nonce: Array(repeating: 9, count: 16))
            let first = await h.core.answer(issuerID: "iss-local", der: try request(nonce: nil))
            let second = await h.otherReplica.answer(issuerID: "iss-local", der: try request(nonce: nil))
            #expect(first.isCacheable && second.isCacheable)
            #expect(second.body == first.body, "the ETag is the body's hash")
            // the other replica signs with its own key, so the bytes agree only because it served the stored answer
            let own = await h.otherReplica.answer(issuerID: "iss-local", der: try request(nonce: [1, 2, 3, 4, 5, 6, 7, 8]))
            let ownResponder = try #require(try OCSPResponse(derEncoded: own.body).certificates.first)
            let sharedResponder = try #require(try OCSPResponse(derEncoded: first.body).certificates.first)
            #expect(ownResponder != sharedResponder, "the replicas have different responder certificates")
        }
    }

    @Test("unauthorized for an unknown issuer or another CA's CertID; malformedRequest for bytes that are not a request")
    func refusals() async throws {
        try await Self.withCore { h in
            #expect(try await h.ask([try h.certID(h.good)], issuerID: "iss-other").1.status == .unauthorized)
            let other = try TestCA.create()
            defer { other.remove() }
            let foreign = try Certificate(pemEncoded: String(contentsOfFile: other.certPath, encoding: .utf8))
            #expect(try await h.ask([try h.certID(h.good, issuer: foreign)]).1.status == .unauthorized)
            let garbage = await h.core.answer(issuerID: "iss-local", der: [0x30, 0x03, 0x02, 0x01, 0x01])
            #expect(garbage.status == .malformedRequest)
            #expect(try OCSPResponse(derEncoded: garbage.body).status == .malformedRequest)
        }
    }

    @Test("internalError when the replica's responder key file is not a key: the reason, with the file's path, goes to the log under an incident id; the answer carries none of it")
    func internalError() async throws {
        try await Self.withCore { h in
            let keys = h.signer.ca.directory + "/ocsp-keys-broken"
            try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let keyPath = keys + "/iss-local.key"
            #expect(FileManager.default.createFile(atPath: keyPath, contents: Data("not a key".utf8), attributes: [.posixPermissions: 0o600]))
            let config = try OCSPConfig(Environment([
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(h.url, as: .ocsp), "CERTCTL_OCSP_RESPONDER_KEY_DIR": keys,
            ].merging(h.signer.identities.environment(for: "ocsp")) { a, _ in a }))
            let log = LogCapture()
            let database = Database(url: TestEnvironment.url(h.url, as: .ocsp), maximumConnections: 2, logger: TestEnvironment.logger)
            try await h.signer.withConnection("ocsp") { connection in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await database.run() }
                    defer { group.cancelAll() }
                    let core = OCSPService.core(config, client: database.client, signer: connection.signing, logger: log.logger)
                    var serializer = DER.Serializer()
                    try serializer.serialize(OCSPRequest(certIDs: [try h.certID(h.good)]))
                    let answer = await core.answer(issuerID: "iss-local", der: serializer.serializedBytes)
                    #expect(answer.status == .internalError)
                    #expect(answer.body == OCSPResponse.error(.internalError), "a bare error response: no text, no path")
                }
            }
            let line = try #require(log.text.split(separator: "\n").first { $0.contains("OCSP responder unusable") }, "\(log.text)")
            #expect(line.hasPrefix("error"))
            #expect(line.contains(keyPath) && line.contains("issuer_id=iss-local"), "\(line)")
            let incident = try #require(line.split(separator: " ").first { $0.hasPrefix("incident=") })
            #expect(incident.dropFirst("incident=".count).count == 16, "\(line)")
        }
    }

    @Test("tryLater while the signer cannot certify a responder key (a replica with no key yet)")
    func tryLater() async throws {
        try await Self.withCore { h in
            let keys = h.signer.ca.directory + "/ocsp-keys-2"
            try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let config = try OCSPConfig(Environment([
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(h.url, as: .ocsp), "CERTCTL_OCSP_RESPONDER_KEY_DIR": keys,
            ].merging(h.signer.identities.environment(for: "ocsp")) { a, _ in a }))
            // nothing listens there: the responder bootstrap cannot reach a signer
            let nowhere = try SignerConnection(
                address: ListenAddress(host: "127.0.0.1", port: freePort()),
                tls: RPCTLSFiles(certificatePath: "\(h.signer.identities.directory)/ocsp.crt",
                                 keyPath: "\(h.signer.identities.directory)/ocsp.key", caPath: "\(h.signer.identities.directory)/ca.crt"))
            let database = Database(url: TestEnvironment.url(h.url, as: .ocsp), maximumConnections: 2, logger: TestEnvironment.logger)
            let status = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await nowhere.run() }
                defer {
                    nowhere.close()
                    group.cancelAll()
                }
                let core = OCSPService.core(config, client: database.client, signer: nowhere.signing, logger: TestEnvironment.logger)
                var serializer = DER.Serializer()
                try serializer.serialize(OCSPRequest(certIDs: [try h.certID(h.good)]))
                return await core.answer(issuerID: "iss-local", der: serializer.serializedBytes).status
            }
            #expect(status == .tryLater)
        }
    }
}
