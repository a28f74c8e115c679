import CertctlEnrollCore
import CertctlPKI
import CertctlStore
import Foundation
import Testing
import X509

/// RenewalReq (RFC 8894 §3.3.1.2) under issue #12 §4: only a current certificate this endpoint issued (or
/// one it accepts), for the same subject and SANs. Devices are made with openssl (RSA, as SCEP needs).
extension SCEPResponderTests {
    /// A device's RSA key and the requests it makes with it.
    struct Device {
        let directory: String
        let name: String
        var keyPath: String { "\(directory)/\(name).key" }

        static func create(_ directory: String, _ name: String) throws -> Device {
            let device = Device(directory: directory, name: name)
            try TestCA.run("/usr/bin/openssl", ["genrsa", "-out", device.keyPath, "2048"])
            return device
        }

        /// A CSR (DER) for CN=`cn` requesting `sans` ("DNS:…", "IP:…"), with `challenge` as challengePassword.
        func csr(_ cn: String, sans: [String], challenge: String? = nil) throws -> [UInt8] {
            let base = "\(directory)/\(name)-\(UUID().uuidString)"
            try ("[req]\ndistinguished_name = dn\nprompt = no\n" + (challenge == nil ? "" : "attributes = attrs\n")
                + "[dn]\nCN = \(cn)\n" + (challenge.map { "[attrs]\nchallengePassword = \($0)\n" } ?? ""))
                .write(toFile: base + ".cnf", atomically: true, encoding: .utf8)
            try TestCA.run("/usr/bin/openssl", ["req", "-new", "-key", keyPath, "-config", base + ".cnf", "-outform", "DER", "-out", base + ".der"]
                + (sans.isEmpty ? [] : ["-addext", "subjectAltName=" + sans.joined(separator: ",")]))
            return Array(try Data(contentsOf: URL(fileURLWithPath: base + ".der")))
        }

        /// The device signing a SCEP message with `certificate` (its key is the device's).
        func signer(_ certificate: Certificate) throws -> SCEPRAIdentity {
            try SCEPRAIdentity(certificate: certificate, keyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
        }

        /// A self-signed certificate for the device's key, as a PKCSReq is signed with.
        func selfSigned() throws -> Certificate {
            let path = "\(directory)/\(name)-self.crt"
            try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-key", keyPath, "-subj", "/CN=\(name)", "-days", "1", "-out", path])
            return try Certificate(pemEncoded: String(contentsOfFile: path, encoding: .utf8))
        }
    }

    static let sans = ["DNS:device.example.com", "IP:10.0.0.7"]

    /// PKCSReq (fixture static challenge) on `endpoint`: the device's certificate.
    func enroll(_ c: Context, _ device: Device, on endpoint: Endpoint = .devices) async throws -> Certificate {
        let csr = try device.csr("device", sans: Self.sans, challenge: try SCEPFixtures.challenge())
        let client = try device.signer(try device.selfSigned())
        let message = try SCEPClientMessage.pkcsReq(csrDER: csr, transactionID: "enroll-\(UUID().uuidString)", senderNonce: Self.nonce(),
                                                    client: client, ra: c.ra.certificate)
        let reply = try await c.certRep(message, to: endpoint, client: client)
        try #require(reply.status == .success, "PKCSReq: \(reply.status) \(String(describing: reply.failInfo))")
        return try #require(reply.certificates.first)
    }

    /// RenewalReq for `csr` signed with `current` and `device`'s key (the CertRep is enveloped to `current`).
    func renew(_ c: Context, _ csr: [UInt8], signedWith current: Certificate, _ device: Device, on endpoint: Endpoint) async throws
        -> SCEPClientMessage.Reply {
        let signer = try device.signer(current)
        let message = try SCEPClientMessage.pkcsReq(csrDER: csr, transactionID: "renew-\(UUID().uuidString)", senderNonce: Self.nonce(),
                                                    client: signer, ra: c.ra.certificate, messageType: .renewalReq)
        return try await c.certRep(message, to: endpoint, client: signer)
    }

    static func nonce() -> [UInt8] { (0..<16).map { _ in UInt8.random(in: 0...255) } }

    @Test("RenewalReq signed by a certificate this endpoint issued, same subject and SANs, new key: SUCCESS for the new key, recorded as issued through scep:devices, audited scep.renew with the old serial and id")
    func renewal() async throws {
        try await withResponder { c in
            let dir = c.harness.ca.directory
            let device = try Device.create(dir, "device"), next = try Device.create(dir, "device-next")
            let current = try await enroll(c, device)
            #expect(try await c.harness.record(of: current).enrollmentEndpoint == "scep:devices")
            let csr = try next.csr("device", sans: Self.sans)
            let reply = try await renew(c, csr, signedWith: current, device, on: .devices)
            #expect(reply.status == .success)
            let renewed = try #require(reply.certificates.first)
            #expect(renewed.publicKey == (try CertificateSigningRequest(derEncoded: csr)).publicKey)
            #expect(renewed.subject == current.subject)
            #expect(renewed.subjectAlternativeNameTexts == Set(Self.sans))
            try await c.harness.expectRenewal(renewed, of: current, through: "scep:devices", action: "scep.renew")
        }
    }

    /// Why a RenewalReq on `devices` must be refused: sent to another endpoint (other-challenge, which does not
    /// accept scep:devices); signed by a certificate the admin API issued; the CSR requests one more SAN, no SAN,
    /// another subject; signed by a revoked, an expired, an unknown (the CA's, not recorded) or a self-signed certificate.
    enum RenewalRefusal: CaseIterable, Sendable {
        case otherEndpoint, adminIssued, extraSAN, noSANs, otherSubject, revoked, expired, unknown, otherIssuer

        var code: String {
            switch self {
            case .otherEndpoint, .adminIssued: "scep_renewal_other_endpoint"
            case .extraSAN, .noSANs: "scep_renewal_san_mismatch"
            case .otherSubject: "scep_renewal_subject_mismatch"
            case .revoked: "scep_renewal_revoked"
            case .expired: "scep_renewal_expired"
            case .unknown: "scep_renewal_unknown"
            case .otherIssuer: "scep_renewal_wrong_issuer"
            }
        }

        var failInfo: SCEPFailInfo {
            switch self {
            case .otherEndpoint, .adminIssued, .extraSAN, .noSANs, .otherSubject: .badRequest
            case .revoked, .expired, .unknown: .badCertID
            case .otherIssuer: .badMessageCheck
            }
        }
    }

    @Test("a RenewalReq is refused with its failInfo, audited with its code, and changes nothing", arguments: RenewalRefusal.allCases)
    func renewalRefused(_ refusal: RenewalRefusal) async throws {
        try await withResponder { c in
            let device = try Device.create(c.harness.ca.directory, "device")
            var current = try await enroll(c, device)
            var csr = try device.csr("device", sans: Self.sans), endpoint = Endpoint.devices
            let key = (try CertificateSigningRequest(derEncoded: csr)).publicKey
            let day: TimeInterval = 86_400
            switch refusal {
            case .otherEndpoint: endpoint = .otherChallenge
            case .adminIssued: current = try await c.harness.issueAsAdmin(csr)
            case .extraSAN: csr = try device.csr("device", sans: Self.sans + ["DNS:extra.example.com"])
            case .noSANs: csr = try device.csr("device", sans: [])
            case .otherSubject: csr = try device.csr("someone-else", sans: Self.sans)
            case .revoked: try await c.harness.revoke(current)
            case .expired:
                current = try await c.harness.forge(subject: current.subject, sans: try Array(#require(current.extensions.subjectAlternativeNames)),
                                                    publicKey: key, notBefore: Date() - 2 * day, notAfter: Date() - day, recordedAs: "scep:devices")
            case .unknown:
                current = try await c.harness.forge(subject: current.subject, sans: try Array(#require(current.extensions.subjectAlternativeNames)),
                                                    publicKey: key, notBefore: Date() - day, notAfter: Date() + day)
            case .otherIssuer: current = try device.selfSigned()
            }
            let issued = try await c.harness.count("SELECT count(*)::int FROM certificates")
            try await c.harness.expectRefusedWithoutChange(refusal.code) {
                let reply = try await renew(c, csr, signedWith: current, device, on: endpoint)
                #expect(reply.status == .failure)
                #expect(reply.failInfo == refusal.failInfo)
                #expect(reply.certificates.isEmpty)
            }
            #expect(try await c.harness.count("SELECT count(*)::int FROM certificates") == issued)
        }
    }

    @Test("an endpoint renews another endpoint's certificate once its accept_renewals_from names it; the new certificate belongs to the renewing endpoint")
    func crossEndpointRenewal() async throws {
        try await withResponder { c in
            let device = try Device.create(c.harness.ca.directory, "device")
            let current = try await enroll(c, device)
            let csr = try device.csr("device", sans: Self.sans)
            try await c.harness.expectRefusedWithoutChange("scep_renewal_other_endpoint") {
                let reply = try await renew(c, csr, signedWith: current, device, on: .otherChallenge)
                #expect(reply.status == .failure)
            }
            try await c.store.setAcceptRenewalsFrom(Endpoint.otherChallenge.rawValue, ["est:routers", "scep:devices"], audit: AuditRecord(
                service: "tests", actor: "tests", action: "scep_profile.update", outcome: .success))
            #expect(try await c.store.get(Endpoint.otherChallenge.rawValue)?.acceptRenewalsFrom == ["est:routers", "scep:devices"])
            let reply = try await renew(c, csr, signedWith: current, device, on: .otherChallenge)
            #expect(reply.status == .success)
            try await c.harness.expectRenewal(try #require(reply.certificates.first), of: current, through: "scep:other-challenge",
                                              action: "scep.renew")
        }
    }
}
