import CertctlEnrollCore
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwiftASN1
import Testing
import X509

/// The EST routes (RFC 7030) in-process through HummingbirdTesting's router
/// framework, on a real database with a real signer. The router framework has
/// no TLS channel: client-certificate paths (mTLS simpleenroll, simplereenroll,
/// the handshake refusal) run against the real TLS listener in ESTRenewalTests.swift.
@Suite("EST routes", .serialized, .timeLimit(.minutes(5)))
struct ESTRoutesTests {
    static let password = "correct-horse-battery-staple"

    /// Label `default` (issuer iss-local, certificate profile `default`, Basic only) with user `device`.
    func withEST(storedHash: String? = nil,
                 _ body: @escaping @Sendable (SCEPESTHarness, any TestClientProtocol) async throws -> Void) async throws {
        try await SCEPESTHarness.run { h in
            let labels = EnrollmentESTStore(client: h.client, logger: h.logger)
            try await labels.create(ESTLabelRecord(name: "default", issuerID: "iss-local", profileID: "default", allowBasic: true,
                                                   allowMTLS: false, trustAnchor: nil),
                                    audit: AuditRecord(service: "tests", actor: "tests", action: "est_label.create", outcome: .success))
            try await labels.setUser(label: "default", username: "device",
                                     passwordHash: try storedHash ?? EnrollmentESTStore.hashPassword(Self.password),
                                     audit: AuditRecord(service: "tests", actor: "tests", action: "est_user.set", outcome: .success))
            let routes = ESTRoutes(
                labels: labels, profiles: ProfileStore(client: h.client, logger: h.logger),
                issuers: IssuerStore(client: h.client, logger: h.logger),
                certificates: CertificateRecordStore(client: h.client, logger: h.logger), issuance: h.issuance,
                holder: TrustAnchorHolder(), audit: h.audit, approvals: h.approvals, metrics: h.metrics, logger: h.logger)
            let router = Router(context: ESTRequestContext.self)
            routes.add(to: router)
            try await Application(router: router, logger: h.logger).test(.router) { client in try await body(h, client) }
        }
    }

    static func basic(_ user: String, _ password: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString(), .contentType: "application/pkcs10"]
    }

    /// A P-256 CSR for CN=`cn` with DNS SAN `cn`.example.com (or `sans`), base64 as EST sends it.
    static func csr(_ cn: String, sans: [GeneralName]? = nil,
                    key: P256.Signing.PrivateKey = .init()) throws -> (base64: String, key: P256.Signing.PrivateKey) {
        var attributes = CertificateSigningRequest.Attributes()
        let sans = sans ?? [.dnsName("\(cn).example.com")]
        if !sans.isEmpty {
            attributes.insert(try .init(ExtensionRequest(extensions: try Certificate.Extensions { SubjectAlternativeNames(sans) })))
        }
        let request = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName(cn) },
                                                    privateKey: .init(key), attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return (Data(serializer.serializedBytes).base64EncodedString(options: .lineLength64Characters) + "\n", key)
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    /// The certificates of a base64 certs-only PKCS#7 body.
    static func certificates(_ response: TestResponse) throws -> [Certificate] {
        let der = try #require(Data(base64Encoded: text(response), options: .ignoreUnknownCharacters))
        return try CMS.signedData(Array(der)).certificates
    }

    static func storedHash(_ h: SCEPESTHarness) async throws -> String? {
        try await EnrollmentESTStore(client: h.client, logger: h.logger).passwordHash(label: "default", username: "device")
    }

    // MARK: cacerts, csrattrs

    @Test("GET cacerts is the issuer's CA certificate as base64 certs-only PKCS#7, on /.well-known/est and on the label's path")
    func cacerts() async throws {
        try await withEST { h, client in
            for uri in ["/.well-known/est/cacerts", "/.well-known/est/default/cacerts"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/pkcs7-mime; smime-type=certs-only")
                #expect(response.headers[HTTPField.Name("Content-Transfer-Encoding")!] == "base64")
                #expect(try Self.certificates(response) == [h.caCertificate])
            }
        }
    }

    @Test("GET csrattrs names every key type and signature algorithm the label's certificate profile allows")
    func csrattrs() async throws {
        try await withEST { _, client in
            let response = try await client.execute(uri: "/.well-known/est/csrattrs", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/csrattrs")
            let der = try #require(Data(base64Encoded: Self.text(response), options: .ignoreUnknownCharacters))
            var oids: Set<String> = []
            func collect(_ node: ASN1Node) {
                if let oid = try? ASN1ObjectIdentifier(derEncoded: node) { oids.insert(oid.description) }
                if case .constructed(let children) = node.content { for child in children { collect(child) } }
            }
            collect(try DER.parse(Array(der)))
            // Profile `default` allows ecdsa-p256, ecdsa-p384 and RSA 2048-4096 (migration 0002).
            #expect(oids == ["1.2.840.10045.2.1", "1.2.840.10045.3.1.7", "1.3.132.0.34", "1.2.840.10045.4.3.2",
                             "1.2.840.10045.4.3.3", "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11"])
        }
    }

    // MARK: simpleenroll with HTTP Basic

    @Test("simpleenroll with the right Basic password issues a certificate for the CSR's key and subject, audited as est.simpleenroll")
    func simpleenroll() async throws {
        try await withEST { h, client in
            let request = try Self.csr("est-device-1")
            let response = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                    headers: Self.basic("device", Self.password), body: ByteBuffer(string: request.base64))
            #expect(response.status == .ok, "\(Self.text(response))")
            #expect(response.headers[.contentType] == "application/pkcs7-mime; smime-type=certs-only")
            let certificate = try #require(try Self.certificates(response).first)
            #expect(certificate.publicKey == Certificate.PublicKey(request.key.publicKey))
            #expect(certificate.subject == (try DistinguishedName { CommonName("est-device-1") }))
            #expect(certificate.issuer == h.caCertificate.subject)
            #expect(h.caCertificate.publicKey.isValidSignature(certificate.signature, for: certificate))
            #expect(try await h.count("""
                SELECT count(*)::int FROM certificates WHERE status = 'issued' AND request_source = 'est'
                AND requested_by = 'est:default:device'
                """) == 1)
            #expect(try await h.count(
                "SELECT count(*)::int FROM audit_events WHERE action = 'est.simpleenroll' AND outcome = 'success'") == 1)
        }
    }

    /// A request that must be refused: what is sent and what comes back.
    struct Refused: Sendable, CustomTestStringConvertible {
        let name: String
        var operation = "simpleenroll"
        let headers: HTTPFields
        let body: String
        let status: HTTPResponse.Status
        let code: String
        var testDescription: String { "\(operation): \(name) -> \(status.code) \(code)" }
    }

    static let refusedRequests: [Refused] = [
        Refused(name: "wrong password", headers: basic("device", "wrong-password"), body: "", status: .unauthorized,
                code: "est_basic_invalid"),
        Refused(name: "a user the label does not have", headers: basic("nobody", password), body: "", status: .unauthorized,
                code: "est_basic_invalid"),
        Refused(name: "no credentials", headers: [.contentType: "application/pkcs10"], body: "", status: .unauthorized,
                code: "est_unauthenticated"),
        Refused(name: "Basic credentials without a colon", headers: [.authorization: "Basic " + Data("device".utf8).base64EncodedString(),
                                                                     .contentType: "application/pkcs10"],
                body: "", status: .unauthorized, code: "est_basic_malformed"),
        Refused(name: "Content-Type application/json", headers: basic("device", password).replacing(.contentType, "application/json"),
                body: "", status: .unsupportedMediaType, code: "est_wrong_content_type"),
        Refused(name: "no Content-Type", headers: [.authorization: basic("device", password)[.authorization]!], body: "",
                status: .unsupportedMediaType, code: "est_wrong_content_type"),
        Refused(name: "a body that is not base64", headers: basic("device", password), body: "not base64 !!",
                status: .badRequest, code: "est_malformed_csr"),
        Refused(name: "base64 of bytes that are not a PKCS#10 request", headers: basic("device", password),
                body: Data("-----BEGIN CERTIFICATE REQUEST-----".utf8).base64EncodedString(), status: .badRequest, code: "est_malformed_csr"),
        Refused(name: "a body over 1 MiB", headers: basic("device", password), body: String(repeating: "A", count: (1 << 20) + 1),
                status: .contentTooLarge, code: "est_body_too_large"),
        Refused(name: "no client certificate (Basic is not enough)", operation: "simplereenroll", headers: basic("device", password),
                body: "", status: .unauthorized, code: "est_reenroll_needs_client_certificate"),
    ]

    @Test("a refused enrollment gets its status, is audited with its code, and changes nothing", arguments: refusedRequests)
    func refusedEnrollment(_ refused: Refused) async throws {
        try await withEST { h, client in
            // A valid CSR unless the case is about the body: the refusal must come from what the case changes.
            let body = refused.body.isEmpty ? try Self.csr("est-refused").base64 : refused.body
            try await h.expectRefusedWithoutChange(refused.code) {
                let response = try await client.execute(uri: "/.well-known/est/\(refused.operation)", method: .post,
                                                        headers: refused.headers, body: ByteBuffer(string: body))
                #expect(response.status == refused.status, "\(Self.text(response))")
                if refused.status == .unauthorized {
                    #expect(response.headers[.wwwAuthenticate] == "Basic realm=\"certctl EST default\"")
                }
            }
            #expect(try await h.count("SELECT count(*)::int FROM certificates") == 0)
        }
    }

    @Test("while Postgres refuses writes (SQLSTATE 25006) simpleenroll is 503 est_database_read_only with Retry-After, not the client's fault, and nothing is stored")
    func readOnlyDatabase() async throws {
        try await withEST { h, client in
            // what default_transaction_read_only makes every INSERT raise, for this database only
            try await TestEnvironment.execute("""
                CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' USING ERRCODE = '25006'; END $$
                """, h.url)
            try await TestEnvironment.execute(
                "CREATE TRIGGER read_only BEFORE INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION refuse_write()", h.url)
            let response = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                    headers: Self.basic("device", Self.password),
                                                    body: ByteBuffer(string: try Self.csr("est-read-only").base64))
            #expect(response.status == .serviceUnavailable, "\(Self.text(response))")
            #expect(Self.text(response).hasPrefix("est_database_read_only"), "\(Self.text(response))")
            #expect(response.headers[.retryAfter] == "10")
            #expect(try await h.count("SELECT count(*)::int FROM certificates") == 0)
        }
    }

    @Test("simpleenroll on a label that does not exist is 404 and changes nothing, not even the audit log")
    func unknownLabel() async throws {
        try await withEST { h, client in
            let before = try await h.contents()
            let audited = try await h.count("SELECT count(*)::int FROM audit_events")
            let response = try await client.execute(uri: "/.well-known/est/nope/simpleenroll", method: .post,
                                                    headers: Self.basic("device", Self.password), body: ByteBuffer(string: try Self.csr("x").base64))
            #expect(response.status == .notFound)
            #expect(Self.text(response) == "est_label_not_found: no EST label nope\n")
            #expect(try await h.contents() == before)
            #expect(try await h.count("SELECT count(*)::int FROM audit_events") == audited)
        }
    }

    // MARK: password hashes

    /// The hash format EnrollmentESTStore wrote before PBKDF2, computed here independently: SHA-256(salt || password).
    static func oldFormatHash(_ password: String) -> String {
        let salt: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }
        func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        return "sha256$" + hex(salt) + "$" + hex(SHA256.hash(data: salt + Array(password.utf8)))
    }

    @Test("a user with an old-format hash logs in; the stored hash becomes PBKDF2 and the same password logs in with it")
    func oldHashUpgradedOnLogin() async throws {
        let old = Self.oldFormatHash(Self.password)
        try await withEST(storedHash: old) { h, client in
            let first = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                 headers: Self.basic("device", Self.password), body: ByteBuffer(string: try Self.csr("a").base64))
            #expect(first.status == .ok, "\(Self.text(first))")
            let upgraded = try #require(try await Self.storedHash(h))
            #expect(upgraded != old)
            #expect(upgraded.hasPrefix("pbkdf2-sha256$210000$"))
            #expect(upgraded.split(separator: "$").map(\.count) == [13, 6, 32, 64])
            #expect(EnrollmentESTStore.verifyPassword(Self.password, stored: upgraded))
            let second = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                  headers: Self.basic("device", Self.password), body: ByteBuffer(string: try Self.csr("b").base64))
            #expect(second.status == .ok, "\(Self.text(second))")
            #expect(try await Self.storedHash(h) == upgraded, "a current hash is not rewritten")
        }
    }

    @Test("a wrong password against an old-format hash is refused and leaves the stored hash as it was")
    func oldHashWrongPassword() async throws {
        let old = Self.oldFormatHash(Self.password)
        try await withEST(storedHash: old) { h, client in
            try await h.expectRefusedWithoutChange("est_basic_invalid") {
                let response = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                        headers: Self.basic("device", "not-" + Self.password),
                                                        body: ByteBuffer(string: try Self.csr("c").base64))
                #expect(response.status == .unauthorized)
            }
            #expect(try await Self.storedHash(h) == old)
        }
    }
}

extension HTTPFields {
    func replacing(_ name: HTTPField.Name, _ value: String) -> HTTPFields {
        var copy = self
        copy[name] = value
        return copy
    }
}
