import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import GRPCCore
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// certctl-signer as a real process, called over gRPC with mutual TLS by
/// clients holding real identity certificates.
@Suite("Signer RPC", .timeLimit(.minutes(2)))
struct SignerRPCTests {
    let logger = TestEnvironment.logger

    /// A running signer on a fresh, migrated database.
    struct Harness {
        let url: DatabaseURL
        let ca: TestCA
        let issuer: Certificate
        let identities: ServiceIdentities
        let rpcPort: Int

        func connection(_ identity: String, identities: ServiceIdentities? = nil) throws -> SignerConnection {
            let files = identities ?? self.identities
            return try SignerConnection(
                address: ListenAddress(host: "127.0.0.1", port: rpcPort),
                tls: RPCTLSFiles(certificatePath: "\(files.directory)/\(identity).crt",
                                 keyPath: "\(files.directory)/\(identity).key", caPath: "\(files.directory)/ca.crt"))
        }
    }

    func withSigner(_ body: (Harness) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["signer", "admin", "crl", "intruder"])
            let rpcPort = freePort()
            let healthPort = freePort()
            var environment = [
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url), "CERTCTL_LOG_FORMAT": "text",
                "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(healthPort)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(rpcPort)",
                "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
            ]
            environment.merge(identities.environment(for: "signer")) { a, _ in a }
            let signer = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment)
            defer { signer.signal(SIGKILL) }
            try await signer.eventually("/readyz 200") {
                try await HTTP.get("http://127.0.0.1:\(healthPort)/readyz").status == 200
            }
            let issuer = try Certificate(pemEncoded: String(contentsOfFile: ca.certPath, encoding: .utf8))
            try await body(Harness(url: url, ca: ca, issuer: issuer, identities: identities, rpcPort: rpcPort))
            #expect(await signer.stop() == 0)
        }
    }

    /// Runs `body` with a connected client; closes it afterwards.
    func call<T: Sendable>(_ connection: SignerConnection, _ body: @Sendable (SignerRPC.Client<HTTP2ClientTransportPosix>) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await connection.run(); return nil }
            defer { connection.close() }
            return try await body(connection.rpc)
        }
    }

    func leafTBS(_ issuer: Certificate, serial: [UInt8] = SerialNumber.random(), hostname: String = "app.example.com") throws -> [UInt8] {
        let key = P256Key()
        return try TBSCertificateBuilder.leaf(LeafCertificateContent(
            serial: serial, subject: try SubjectName.parse("CN=\(hostname)"), publicKey: key.publicKey,
            notBefore: issuer.notValidBefore, notAfter: min(Date().addingTimeInterval(86_400 * 20), issuer.notValidAfter),
            subjectAlternativeNames: [.dnsName(hostname)], extendedKeyUsages: [.serverAuth],
            ocspURL: "http://ocsp.test/.well-known/pki/ocsp/iss-local", crlURL: "http://crl.test/.well-known/pki/crl/iss-local",
            caIssuersURL: "http://crl.test/.well-known/pki/ca/iss-local.crt"), issuer: issuer)
    }

    func request(_ tbs: [UInt8], certificateID: UUID = UUID(), purpose: Certctl_Signer_V1_CertificatePurpose = .leaf)
        -> Certctl_Signer_V1_SignCertificateRequest
    {
        var message = Certctl_Signer_V1_SignCertificateRequest()
        message.issuerID = "iss-local"
        message.issuerGeneration = 1
        message.tbsCertificate = Data(tbs)
        message.purpose = purpose
        message.profileID = "default"
        message.requestedBy = "tests"
        message.certificateID = certificateID.uuidString.lowercased()
        return message
    }

    /// Reserves a pending row as the issuance core would.
    func reserve(_ url: DatabaseURL, serial: [UInt8]) async throws -> UUID {
        let hex = try #require(SerialNumber.canonicalHex(ofDERInteger: serial))
        let id = UUID()
        try await TestEnvironment.execute("""
            INSERT INTO certificates (id, issuer_id, issuer_generation, serial_hex, status, profile_id, requested_by)
            VALUES ('\(id.uuidString.lowercased())', 'iss-local', 1, '\(hex)', 'pending', 'default', 'tests')
            """, url)
        return id
    }

    func refusal(_ body: () async throws -> Void) async -> (code: RPCError.Code, refusal: String)? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return (error.code, (RefusalTrailer.read(error) ?? "none"))
        } catch {
            return nil
        }
    }

    @Test("a caller whose identity may not use a method gets PERMISSION_DENIED, and the refusal is audited")
    func unauthorisedCaller() async throws {
        try await withSigner { h in
            let tbs = try leafTBS(h.issuer)
            let message = request(tbs)
            // crl may sign CRLs, not certificates
            let crl = try h.connection("crl")
            let denied = await refusal { _ = try await call(crl) { try await $0.signCertificate(message) } }
            #expect(denied?.code == .permissionDenied)
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE service = 'signer' AND outcome = 'denied'
                AND actor = 'certctl-crl' AND error_code = 'permission_denied'
                """, h.url) == 1)
            // an identity from the right CA but not a certctl service
            let intruder = try h.connection("intruder")
            let unknown = await refusal { _ = try await call(intruder) { try await $0.signCertificate(message) } }
            #expect(unknown?.code == .permissionDenied)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND actor = 'certctl-intruder'", h.url) == 1)
            // a client certificate from another CA never completes the TLS handshake
            let strangers = try TestCA.identities(in: h.ca.directory + "/strangers", for: ["admin"])
            let stranger = try h.connection("admin", identities: ServiceIdentities(directory: strangers.directory))
            let options: CallOptions = {
                var options = CallOptions.defaults
                options.timeout = .seconds(3)
                return options
            }()
            let rejected = await refusal { _ = try await call(stranger) { try await $0.signCertificate(message, options: options) } }
            #expect(rejected != nil, "a stranger's certificate must fail the handshake")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'issued'", h.url) == 0)
        }
    }

    @Test("the signer signs only a checked TBS for a pending reservation, and stores the result")
    func checksBeforeSigning() async throws {
        try await withSigner { h in
            let admin = try h.connection("admin")
            let url = h.url
            try await call(admin) { signer in
                // no reservation row → refused
                let orphan = await refusal { _ = try await signer.signCertificate(request(try leafTBS(h.issuer))) }
                #expect(orphan?.refusal == "no_reservation")

                // another CA's name and key id → refused
                let other = try TestCA.create()
                defer { other.remove() }
                let otherIssuer = try Certificate(pemEncoded: String(contentsOfFile: other.certPath, encoding: .utf8))
                let serial1 = SerialNumber.random()
                let wrongIssuer = await refusal {
                    _ = try await signer.signCertificate(request(try leafTBS(otherIssuer, serial: serial1),
                                                                 certificateID: try await reserve(url, serial: serial1)))
                }
                #expect(wrongIssuer?.refusal == "issuer_mismatch")

                // a serial with less than 64 bits → refused
                let short: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]
                let weak = await refusal {
                    _ = try await signer.signCertificate(request(try leafTBS(h.issuer, serial: short),
                                                                 certificateID: try await reserve(url, serial: short)))
                }
                #expect(weak?.refusal == "serial_invalid")

                // a SAN type the profile does not allow (the default profile allows DNS and IP only)
                let serial2 = SerialNumber.random()
                let id2 = try await reserve(url, serial: serial2)
                let emailTBS = try TBSCertificateBuilder.leaf(LeafCertificateContent(
                    serial: serial2, subject: try SubjectName.parse("CN=x"), publicKey: P256Key().publicKey,
                    notBefore: h.issuer.notValidBefore, notAfter: Date().addingTimeInterval(86_400),
                    subjectAlternativeNames: [.rfc822Name("a@example.com")], extendedKeyUsages: [.serverAuth],
                    ocspURL: "http://o", crlURL: "http://c", caIssuersURL: "http://i"), issuer: h.issuer)
                let san = await refusal { _ = try await signer.signCertificate(request(emailTBS, certificateID: id2)) }
                #expect(san?.refusal == "san_not_allowed")

                // a good request: signed, verifies under the CA, stored as issued
                let serial3 = SerialNumber.random()
                let id3 = try await reserve(url, serial: serial3)
                let response = try await signer.signCertificate(request(try leafTBS(h.issuer, serial: serial3), certificateID: id3))
                let certificate = try Certificate(derEncoded: Array(response.certificate))
                #expect(h.issuer.publicKey.isValidSignature(certificate.signature, for: certificate))
                #expect(try await TestEnvironment.scalar(
                    "SELECT count(*) FROM certificates WHERE id = '\(id3.uuidString.lowercased())' AND status = 'issued' AND certificate_der IS NOT NULL",
                    url) == 1)
                // the same reservation cannot be signed twice
                let again = await refusal { _ = try await signer.signCertificate(request(try leafTBS(h.issuer, serial: serial3), certificateID: id3)) }
                #expect(again?.refusal == "no_reservation")
            }
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE service = 'signer' AND outcome = 'failure'", url) == 5)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE status = 'issued'", url) == 1, "refusals signed nothing")
        }
    }

    @Test("CRL numbers must strictly increase per issuer, across calls")
    func crlNumbersIncrease() async throws {
        try await withSigner { h in
            let crl = try h.connection("crl")
            let issuer = h.issuer
            let results: [String?] = try await call(crl) { signer in
                var outcomes: [String?] = []
                for number in [5, 5, 4, 6] {
                    var message = Certctl_Signer_V1_SignCRLRequest()
                    message.issuerID = "iss-local"
                    message.tbsCertList = Data(try Self.tbsCertList(issuer: issuer, number: number))
                    do {
                        let response = try await signer.signCRL(message)
                        #expect(issuer.publicKey.isValidSignature(
                            Array(response.signature), for: Array(message.tbsCertList), signatureAlgorithm: .ecdsaWithSHA256))
                        outcomes.append(nil)
                    } catch let error as RPCError {
                        outcomes.append((RefusalTrailer.read(error) ?? "none"))
                    }
                }
                return outcomes
            }
            #expect(results == [nil, "crl_number_not_increasing", "crl_number_not_increasing", nil])
            #expect(try await TestEnvironment.scalar("SELECT last_crl_number::int FROM issuers WHERE id = 'iss-local'", h.url) == 6)
        }
    }

    @Test("SignCRLStream: a TBSCertList in pieces of any size is signed like SignCRL; a non-increasing number, another issuer's generation and garbage are refused")
    func crlStream() async throws {
        try await withSigner { h in
            let crl = try h.connection("crl")
            let issuer = h.issuer
            @Sendable func stream(_ tbs: [UInt8], piece: Int, generation: UInt32 = 0,
                        _ signer: SignerRPC.Client<HTTP2ClientTransportPosix>) async throws -> String? {
                do {
                    let response = try await signer.signCRLStream(requestProducer: { writer in
                        var offset = 0
                        repeat {
                            var chunk = Certctl_Signer_V1_SignCRLChunk()
                            if offset == 0 { chunk.issuerID = "iss-local"; chunk.issuerGeneration = generation }
                            chunk.tbsPart = Data(tbs[offset..<min(offset + piece, tbs.count)])
                            try await writer.write(chunk)
                            offset += piece
                        } while offset < tbs.count
                    })
                    #expect(issuer.publicKey.isValidSignature(Array(response.signature), for: tbs, signatureAlgorithm: .ecdsaWithSHA256))
                    return nil
                } catch let error as RPCError {
                    return (RefusalTrailer.read(error) ?? "none")
                }
            }
            let results: [String?] = try await call(crl) { signer in
                [try await stream(try Self.tbsCertList(issuer: issuer, number: 7), piece: 1, signer),
                 try await stream(try Self.tbsCertList(issuer: issuer, number: 8), piece: 1 << 20, signer),
                 try await stream(try Self.tbsCertList(issuer: issuer, number: 8), piece: 13, signer),
                 try await stream(try Self.tbsCertList(issuer: issuer, number: 9), piece: 13, generation: 9, signer),
                 try await stream([0x30, 0x03, 0x02, 0x01, 0x01], piece: 2, signer)]
            }
            #expect(results == [nil, nil, "crl_number_not_increasing", "issuer_mismatch", "malformed_tbs"])
            #expect(try await TestEnvironment.scalar("SELECT last_crl_number::int FROM issuers WHERE id = 'iss-local'", h.url) == 8)
        }
    }

    /// A minimal v2 TBSCertList with a CRL Number, signed with ecdsa-with-SHA256.
    static func tbsCertList(issuer: Certificate, number: Int) throws -> [UInt8] {
        var numberDER = DER.Serializer()
        try numberDER.serialize(number)
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { tbs in
            try tbs.serialize(1)
            tbs.serializeRawBytes([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])
            try tbs.serialize(issuer.subject)
            try tbs.serialize(try UTCTime(year: 2026, month: 11, day: 30, hours: 0, minutes: 0, seconds: 0))
            try tbs.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { wrapper in
                try wrapper.appendConstructedNode(identifier: .sequence) { extensions in
                    try extensions.serialize(Certificate.Extension(oid: [2, 5, 29, 20], critical: false, value: numberDER.serializedBytes[...]))
                }
            }
        }
        return serializer.serializedBytes
    }
}

import Crypto
import GRPCNIOTransportHTTP2

typealias HTTP2ClientTransportPosix = HTTP2ClientTransport.Posix

/// A throwaway P-256 key for TBS subjects.
struct P256Key {
    let key = P256.Signing.PrivateKey()
    var publicKey: Certificate.PublicKey { Certificate.PublicKey(key.publicKey) }
}
