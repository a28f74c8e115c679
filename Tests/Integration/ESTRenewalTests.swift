import CertctlConfig
import CertctlEnrollCore
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Testing
import X509

/// Client-certificate paths over real TLS: certctl-enroll's EST listener (ESTServer, handshake checks
/// included) in-process on a free port, requests from HummingbirdTesting's TLS client presenting a
/// certificate. Issue #12 §4: simplereenroll renews only a current certificate of this label (or one it
/// accepts) for the same subject and SANs; mTLS simpleenroll refuses a revoked or unknown certctl certificate.
extension ESTRoutesTests {
    struct TLSContext {
        let harness: SCEPESTHarness
        let port: Int
        let labels: EnrollmentESTStore

        /// POST /.well-known/est/`path` with a CSR, over TLS, presenting `client` (certificate and key) or Basic credentials.
        func post(_ path: String, _ csr: String, client: (Certificate, P256.Signing.PrivateKey)? = nil) async throws -> TestClient.Response {
            try await send(.post, path, csr, client: client)
        }

        func send(_ method: HTTPRequest.Method, _ path: String, _ body: String,
                  client: (Certificate, P256.Signing.PrivateKey)?) async throws -> TestClient.Response {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates([try NIOSSLCertificate(file: harness.ca.certPath, format: .pem)])
            if let (certificate, key) = client {
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der))]
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem))
            }
            let headers: HTTPFields = client == nil ? ESTRoutesTests.basic("device", ESTRoutesTests.password) : [.contentType: "application/pkcs10"]
            return try await TestClient.withClient(host: "127.0.0.1", port: port,
                                                   configuration: .init(tlsConfiguration: tls, timeout: .seconds(10), serverName: "localhost")) {
                try await $0.execute(TestClient.Request("/.well-known/est/\(path)", method: method, authority: "localhost", headers: headers,
                                                        body: ByteBuffer(string: body)))
            }
        }

        /// simpleenroll with HTTP Basic on `label`: the certificate and its key.
        func enroll(_ cn: String, on label: String) async throws -> (Certificate, P256.Signing.PrivateKey) {
            let csr = try ESTRoutesTests.csr(cn)
            let response = try await post("\(label)/simpleenroll", csr.base64)
            try #require(response.status == .ok, "\(String(buffer: response.body ?? ByteBuffer()))")
            return (try #require(try ESTRoutesTests.certificates(response.body).first), csr.key)
        }
    }

    /// Labels `default` (Basic, and mTLS against bundle `clients`: the test CA) and `other` (Basic), user `device` on both.
    func withESTOverTLS(_ body: (TLSContext) async throws -> Void) async throws {
        try await SCEPESTHarness.run { h in
            let dir = h.ca.directory
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                "-keyout", "\(dir)/est.key", "-subj", "/CN=localhost", "-out", "\(dir)/est.csr"])
            try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: "\(dir)/est.ext", atomically: true, encoding: .utf8)
            try TestCA.run("/usr/bin/openssl", ["x509", "-req", "-in", "\(dir)/est.csr", "-CA", h.ca.certPath, "-CAkey", h.ca.keyPath,
                                                "-CAcreateserial", "-days", "2", "-extfile", "\(dir)/est.ext", "-out", "\(dir)/est.crt"])
            let audit = AuditRecord(service: "tests", actor: "tests", action: "tests", outcome: .success)
            try await TrustAnchorStore(client: h.client, logger: h.logger).create(
                TrustAnchorRecord(name: "clients", purpose: "est-mtls", path: h.ca.certPath), audit: audit)
            let labels = EnrollmentESTStore(client: h.client, logger: h.logger)
            for (name, mtls) in [("default", true), ("other", false)] {
                try await labels.create(ESTLabelRecord(name: name, issuerID: "iss-local", profileID: "default", allowBasic: true,
                                                       allowMTLS: mtls, trustAnchor: mtls ? "clients" : nil), audit: audit)
                try await labels.setUser(label: name, username: "device", passwordHash: try EnrollmentESTStore.hashPassword(Self.password),
                                         audit: audit)
            }
            let holder = TrustAnchorHolder()
            _ = try holder.reload(name: "clients", purpose: "est-mtls", path: h.ca.certPath).get()
            let issuers = IssuerStore(client: h.client, logger: h.logger)
            let routes = ESTRoutes(
                labels: labels, profiles: ProfileStore(client: h.client, logger: h.logger), issuers: issuers,
                certificates: CertificateRecordStore(client: h.client, logger: h.logger), issuance: h.issuance,
                holder: holder, audit: h.audit, approvals: h.approvals, metrics: h.metrics, logger: h.logger)
            let port = freePort()
            let server = try ESTServer.make(listen: ListenAddress(host: "127.0.0.1", port: port), certPath: "\(dir)/est.crt",
                                            keyPath: "\(dir)/est.key", routes: routes, holder: holder,
                                            issuerRoots: IssuerRoots(issuers: issuers), logger: h.logger)
            let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [], logger: h.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let context = TLSContext(harness: h, port: port, labels: labels)
                do {
                    try await Self.waitUntilListening(context)
                    try await body(context)
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    static func waitUntilListening(_ context: TLSContext) async throws {
        for _ in 0..<200 {
            if (try? await context.send(.get, "cacerts", "", client: nil))?.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the EST listener did not come up on port \(context.port)")
    }

    /// The certificates of a base64 certs-only PKCS#7 body.
    static func certificates(_ body: ByteBuffer?) throws -> [Certificate] {
        let der = try #require(Data(base64Encoded: String(buffer: body ?? ByteBuffer()), options: .ignoreUnknownCharacters))
        return try CMS.signedData(Array(der)).certificates
    }

    @Test("simplereenroll with the certificate this label issued as TLS client certificate, same subject and SANs, new key: 200 for the new key, recorded as issued through est:default, audited with the old serial and id")
    func reenroll() async throws {
        try await withESTOverTLS { c in
            let current = try await c.enroll("device-1", on: "default")
            #expect(try await c.harness.record(of: current.0).enrollmentEndpoint == "est:default")
            let csr = try Self.csr("device-1")
            let response = try await c.post("default/simplereenroll", csr.base64, client: current)
            #expect(response.status == .ok, "\(String(buffer: response.body ?? ByteBuffer()))")
            let renewed = try #require(try Self.certificates(response.body).first)
            #expect(renewed.publicKey == Certificate.PublicKey(csr.key.publicKey))
            #expect(renewed.subject == current.0.subject)
            #expect(renewed.subjectAlternativeNameTexts == current.0.subjectAlternativeNameTexts)
            try await c.harness.expectRenewal(renewed, of: current.0, through: "est:default", action: "est.simplereenroll")
        }
    }

    /// A client certificate request that must be refused with 403 and its code: simplereenroll of a certificate
    /// issued through label other, or by the admin API; with one more SAN, another subject; with a revoked
    /// certificate or one of the CA that certctl has no record of; mTLS simpleenroll with such a certificate.
    enum ClientCertificateRefusal: CaseIterable, Sendable {
        case otherLabel, adminIssued, extraSAN, otherSubject, revoked, unknown, mtlsRevoked, mtlsUnknown

        var operation: String { self == .mtlsRevoked || self == .mtlsUnknown ? "simpleenroll" : "simplereenroll" }

        var code: String {
            switch self {
            case .otherLabel, .adminIssued: "est_reenroll_other_endpoint"
            case .extraSAN: "est_reenroll_san_mismatch"
            case .otherSubject: "est_reenroll_subject_mismatch"
            case .revoked: "est_reenroll_revoked"
            case .unknown: "est_reenroll_unknown"
            case .mtlsRevoked: "est_client_certificate_revoked"
            case .mtlsUnknown: "est_client_certificate_unknown"
            }
        }
    }

    @Test("a client certificate refused by the renewal or revocation rules gets 403, is audited with its code, and changes nothing",
          arguments: ClientCertificateRefusal.allCases)
    func clientCertificateRefused(_ refusal: ClientCertificateRefusal) async throws {
        try await withESTOverTLS { c in
            var current = try await c.enroll("device-1", on: refusal == .otherLabel ? "other" : "default")
            var csr = try Self.csr("device-1").base64
            let day: TimeInterval = 86_400
            switch refusal {
            case .otherLabel, .revoked: break
            case .adminIssued:
                let request = try Self.csr("device-1", key: current.1)
                let der = try #require(Data(base64Encoded: request.base64, options: .ignoreUnknownCharacters))
                current.0 = try await c.harness.issueAsAdmin(Array(der))
            case .extraSAN: csr = try Self.csr("device-1", sans: [.dnsName("device-1.example.com"), .dnsName("extra.example.com")]).base64
            case .otherSubject: csr = try Self.csr("someone-else", sans: [.dnsName("device-1.example.com")]).base64
            case .mtlsRevoked: csr = try Self.csr("device-2").base64
            case .unknown, .mtlsUnknown:
                if refusal == .mtlsUnknown { csr = try Self.csr("device-2").base64 }
                current.0 = try await c.harness.forge(subject: current.0.subject, sans: Array(try #require(current.0.extensions.subjectAlternativeNames)),
                                                      publicKey: current.0.publicKey, notBefore: Date() - day, notAfter: Date() + day)
            }
            if refusal == .revoked || refusal == .mtlsRevoked { try await c.harness.revoke(current.0) }
            let issued = try await c.harness.count("SELECT count(*)::int FROM certificates")
            try await c.harness.expectRefusedWithoutChange(refusal.code) {
                let response = try await c.post("default/\(refusal.operation)", csr, client: current)
                #expect(response.status == .forbidden, "\(String(buffer: response.body ?? ByteBuffer()))")
            }
            #expect(try await c.harness.count("SELECT count(*)::int FROM certificates") == issued)
        }
    }

    @Test("an expired certctl certificate is refused in the TLS handshake (audited est_client_certificate_untrusted) and renews nothing")
    func expiredClientCertificate() async throws {
        try await withESTOverTLS { c in
            let (current, key) = try await c.enroll("device-1", on: "default")
            let day: TimeInterval = 86_400
            let expired = try await c.harness.forge(subject: current.subject, sans: Array(try #require(current.extensions.subjectAlternativeNames)),
                                                    publicKey: current.publicKey, notBefore: Date() - 2 * day, notAfter: Date() - day,
                                                    recordedAs: "est:default")
            let before = try await c.harness.contents()
            await #expect(throws: (any Error).self) {
                try await c.post("default/simplereenroll", try Self.csr("device-1").base64, client: (expired, key))
            }
            var audited = 0
            for _ in 0..<100 where audited == 0 {
                audited = try await c.harness.refusals("est_client_certificate_untrusted")
                if audited == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(audited == 1)
            // aggregated per client address (not per certificate: those cost an attacker nothing)
            #expect(try await c.harness.count("""
                SELECT count(*)::int FROM audit_events WHERE error_code = 'est_client_certificate_untrusted'
                AND details->>'source' = '127.0.0.1' AND target_id IS NULL
                """) == 1)
            #expect(try await c.harness.contents() == before)
        }
    }

    @Test("a label renews another label's certificate once its accept_renewals_from names it; mTLS simpleenroll with a current certctl certificate issues")
    func crossLabelRenewal() async throws {
        try await withESTOverTLS { c in
            let current = try await c.enroll("device-1", on: "other")
            let csr = try Self.csr("device-1")
            try await c.harness.expectRefusedWithoutChange("est_reenroll_other_endpoint") {
                let response = try await c.post("default/simplereenroll", csr.base64, client: current)
                #expect(response.status == .forbidden)
            }
            try await c.labels.setAcceptRenewalsFrom("default", ["est:other"], audit: AuditRecord(
                service: "tests", actor: "tests", action: "est_label.update", outcome: .success))
            #expect(try await c.labels.get("default")?.acceptRenewalsFrom == ["est:other"])
            let response = try await c.post("default/simplereenroll", csr.base64, client: current)
            #expect(response.status == .ok, "\(String(buffer: response.body ?? ByteBuffer()))")
            try await c.harness.expectRenewal(try #require(try Self.certificates(response.body).first), of: current.0,
                                              through: "est:default", action: "est.simplereenroll")

            let mtls = try await c.post("default/simpleenroll", try Self.csr("device-2").base64, client: current)
            #expect(mtls.status == .ok, "\(String(buffer: mtls.body ?? ByteBuffer()))")
        }
    }
}
