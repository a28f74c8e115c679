import CertctlPKI
import CertctlSignerCore
import CertctlStore
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

/// Every refusal of docs/signer.md's table, each from a TBS that differs from
/// a good one in exactly the field under test.
@Suite("Signing policy")
struct SigningPolicyTests {
    static let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))

    /// An in-memory P-256 CA, as the signer would have loaded it.
    static let ca: LoadedCA = {
        let key = P256.Signing.PrivateKey()
        let certificate = try! CAKeyFiles.selfSignedCA(
            key: Certificate.PrivateKey(key), algorithm: .ecdsaP256, subject: try! SubjectName.parse("CN=Policy Test CA,O=certctl"),
            days: 3650, now: now)
        var serializer = DER.Serializer()
        try! serializer.serialize(certificate)
        return LoadedCA(certificate: certificate, certificateDER: serializer.serializedBytes, privateKey: Certificate.PrivateKey(key),
                        algorithm: .ecdsaP256, certificatePath: "/test/ca.crt", keyPath: "/test/ca.key")
    }()

    static let profile = CertificateProfile(
        id: "web", description: "", allowedKeyAlgorithms: [.ecdsaP256, .rsa2048], maxValidityDays: 90,
        extendedKeyUsages: [.serverAuth, .clientAuth], allowedSANTypes: [.dns, .ip], sanPatterns: [], allowCA: false)

    /// A leaf request whose fields a test changes one at a time.
    struct Leaf {
        var version: Certificate.Version = .v3
        var serial: [UInt8] = SerialNumber.random()
        var key: Certificate.PublicKey = Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)
        var subject = try! SubjectName.parse("CN=app.example.com")
        var issuer = SigningPolicyTests.ca.certificate.subject
        var algorithm: Certificate.SignatureAlgorithm = .ecdsaWithSHA256
        var notBefore = SigningPolicyTests.now.addingTimeInterval(-300)
        var notAfter = SigningPolicyTests.now.addingTimeInterval(30 * 86_400)
        var sans: [GeneralName] = [.dnsName("app.example.com")]
        var ekus: [ExtendedKeyUsage.Usage] = [.serverAuth]
        var keyUsage: KeyUsage? = KeyUsage(digitalSignature: true)
        var basicConstraints: BasicConstraints? = .notCertificateAuthority
        var authorityKeyID: [UInt8]? = Array(try! TBSCertificateBuilder.issuerKeyIdentifier(SigningPolicyTests.ca.certificate))
        /// Extensions replacing or added to the ones above (raw, e.g. malformed).
        var extra: [Certificate.Extension] = []

        func certificate() throws -> Certificate {
            var extensions = Certificate.Extensions()
            if let basicConstraints { try extensions.append(Certificate.Extension(basicConstraints, critical: true)) }
            if let keyUsage { try extensions.append(Certificate.Extension(keyUsage, critical: true)) }
            if !ekus.isEmpty { try extensions.append(Certificate.Extension(try ExtendedKeyUsage(ekus), critical: false)) }
            if let authorityKeyID {
                try extensions.append(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...]), critical: false))
            }
            if !sans.isEmpty { try extensions.append(Certificate.Extension(SubjectAlternativeNames(sans), critical: false)) }
            for ext in extra {
                extensions.remove(ext.oid)
                try extensions.append(ext)
            }
            let signing = P256.Signing.PrivateKey()
            return try Certificate(
                version: version, serialNumber: Certificate.SerialNumber(bytes: serial[...]), publicKey: key,
                notValidBefore: notBefore, notValidAfter: notAfter, issuer: issuer, subject: subject,
                signatureAlgorithm: algorithm, extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(signing))
        }

        /// The reservation the issuance core would have recorded for this request.
        func reservation() throws -> LeafReservation {
            LeafReservation(
                certificateID: UUID(), issuerID: "iss-local", issuerGeneration: 1,
                serialHex: SerialNumber.canonicalHex(ofDERInteger: serial[...]) ?? "", status: "pending", profileID: "web",
                subjectDER: try ReservationFields.subjectDER(subject), spkiSHA256: try ReservationFields.spkiSHA256(key),
                subjectAltNames: sans.map(GeneralNameText.describe), notBefore: notBefore, notAfter: notAfter,
                reservedBy: "certctl_admin")
        }
    }

    static func context(_ reservation: LeafReservation, profile: CertificateProfile? = profile, allowsSubCA: Bool = false,
                        servesEnrollment: Bool = false) -> LeafSigningContext {
        LeafSigningContext(reservation: reservation, profile: profile, issuerAllowsSubCA: allowsSubCA,
                           profileServesEnrollment: servesEnrollment)
    }

    /// The refusal code for `leaf` checked against `context` (default: its own reservation), or nil when it would be signed.
    static func refusal(_ leaf: Leaf, caller: String = "admin", generation: Int = 1,
                        context: ((LeafReservation) -> LeafSigningContext)? = nil) throws -> String? {
        let certificate = try leaf.certificate()
        let reservation = try leaf.reservation()
        do {
            try SigningPolicy.checkLeaf(certificate, ca: ca, generation: generation,
                                        context: (context ?? { Self.context($0) })(reservation), caller: caller, now: now)
            return nil
        } catch {
            return error.code
        }
    }

    static func mutated(_ change: (inout Leaf) -> Void) -> Leaf {
        var leaf = Leaf()
        change(&leaf)
        return leaf
    }

    static func raw(_ oid: ASN1ObjectIdentifier, critical: Bool = false, _ value: [UInt8]) -> Certificate.Extension {
        Certificate.Extension(oid: oid, critical: critical, value: value[...])
    }

    @Test("a TBS that matches its reservation and profile is accepted (admin any profile, enroll a profile an endpoint uses)")
    func accepted() throws {
        #expect(try Self.refusal(Leaf()) == nil)
        #expect(try Self.refusal(Leaf(), caller: "enroll") { r in var r = r; r.reservedBy = "certctl_enroll"; return Self.context(r, servesEnrollment: true) } == nil)
        // a single database role for every service (no certctl_* role): nothing to compare the caller with
        #expect(try Self.refusal(Leaf()) { r in var r = r; r.reservedBy = "postgres"; return Self.context(r) } == nil)
        #expect(try Self.refusal(Self.mutated { $0.key = Certificate.PublicKey(try! _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey)
            $0.keyUsage = KeyUsage(digitalSignature: true, keyEncipherment: true) }) == nil)
    }

    @Test("malformed_tbs: a version other than v3")
    func version() throws {
        #expect(try Self.refusal(Self.mutated { $0.version = .v1; $0.basicConstraints = nil; $0.keyUsage = nil; $0.ekus = []
            $0.sans = []; $0.authorityKeyID = nil }) == "malformed_tbs")
    }

    @Test("signature_algorithm_mismatch: the TBS names an algorithm other than the issuer's")
    func algorithm() throws {
        #expect(try Self.refusal(Self.mutated { $0.algorithm = .ecdsaWithSHA384 }) == "signature_algorithm_mismatch")
    }

    @Test("issuer_mismatch: another issuer name, a missing or foreign authorityKeyIdentifier")
    func issuer() throws {
        #expect(try Self.refusal(Self.mutated { $0.issuer = try! SubjectName.parse("CN=Someone Else") }) == "issuer_mismatch")
        #expect(try Self.refusal(Self.mutated { $0.authorityKeyID = nil }) == "issuer_mismatch")
        #expect(try Self.refusal(Self.mutated { $0.authorityKeyID = [1, 2, 3, 4] }) == "issuer_mismatch")
    }

    @Test("validity_outside_ca: notBefore not before notAfter, beyond the CA's validity, or more than a day from now")
    func validity() throws {
        #expect(try Self.refusal(Self.mutated { $0.notAfter = $0.notBefore }) == "validity_outside_ca")
        #expect(try Self.refusal(Self.mutated { $0.notAfter = Self.ca.certificate.notValidAfter.addingTimeInterval(1) }) == "validity_outside_ca")
        #expect(try Self.refusal(Self.mutated { $0.notBefore = Self.ca.certificate.notValidBefore.addingTimeInterval(-1) }) == "validity_outside_ca")
        #expect(try Self.refusal(Self.mutated { $0.notBefore = Self.now.addingTimeInterval(2 * 86_400) }) == "validity_outside_ca")
    }

    @Test("serial_invalid: zero, negative, longer than 20 octets, or fewer than 64 random bits")
    func serial() throws {
        #expect(try Self.refusal(Self.mutated { $0.serial = [0] }) == "serial_invalid")
        #expect(try Self.refusal(Self.mutated { $0.serial = [0x80] + Array(repeating: 1, count: 10) }) == "serial_invalid")
        #expect(try Self.refusal(Self.mutated { $0.serial = [0x01] + Array(repeating: 0xab, count: 20) }) == "serial_invalid")
        #expect(try Self.refusal(Self.mutated { $0.serial = [0x01, 2, 3, 4, 5, 6, 7, 8] }) == "serial_invalid")
    }

    @Test("extension_not_allowed: an unknown critical extension, or any extension a leaf may not carry")
    func extensions() throws {
        #expect(try Self.refusal(Self.mutated { $0.extra = [Self.raw([1, 2, 3, 4], critical: true, [0x05, 0x00])] }) == "extension_not_allowed")
        // nameConstraints (2.5.29.30), non-critical, still not a leaf extension
        #expect(try Self.refusal(Self.mutated { $0.extra = [Self.raw([2, 5, 29, 30], [0x30, 0x00])] }) == "extension_not_allowed")
    }

    @Test("extension_malformed: basicConstraints, keyUsage, extendedKeyUsage, subjectAltName or authorityKeyIdentifier that cannot be parsed is refused, never read as absent")
    func malformedExtensions() throws {
        let garbage: [UInt8] = [0x04, 0x01, 0xff]
        for oid in [ASN1ObjectIdentifier.X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
                    .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.authorityKeyIdentifier] {
            #expect(try Self.refusal(Self.mutated { $0.extra = [Self.raw(oid, critical: oid == .X509ExtensionID.basicConstraints, garbage)] })
                    == "extension_malformed", "\(oid)")
        }
    }

    @Test("ca_not_allowed: CA:TRUE unless both the issuer and the profile allow sub-CAs")
    func caFlag() throws {
        let ca = Self.mutated { $0.basicConstraints = .isCertificateAuthority(maxPathLength: 0)
            $0.keyUsage = KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true) }
        var allowing = Self.profile
        allowing.allowCA = true
        #expect(try Self.refusal(ca) == "ca_not_allowed")
        #expect(try Self.refusal(ca) { Self.context($0, allowsSubCA: true) } == "ca_not_allowed")
        #expect(try Self.refusal(ca) { Self.context($0, profile: allowing) } == "ca_not_allowed")
        #expect(try Self.refusal(ca) { Self.context($0, profile: allowing, allowsSubCA: true) } == nil)
    }

    @Test("key_not_allowed, usage_not_allowed, san_not_allowed, validity_too_long: the reserved profile's rules")
    func profileRules() throws {
        #expect(try Self.refusal(Self.mutated { $0.key = Certificate.PublicKey(P384.Signing.PrivateKey().publicKey) }) == "key_not_allowed")
        #expect(try Self.refusal(Self.mutated { $0.ekus = [.codeSigning] }) == "usage_not_allowed")
        #expect(try Self.refusal(Self.mutated { $0.keyUsage = KeyUsage(digitalSignature: true, keyEncipherment: true) }) == "usage_not_allowed",
                "keyEncipherment on an ECDSA key")
        #expect(try Self.refusal(Self.mutated { $0.sans = [.rfc822Name("a@example.com")] }) == "san_not_allowed")
        #expect(try Self.refusal(Self.mutated { $0.notAfter = $0.notBefore.addingTimeInterval(100 * 86_400) }) == "validity_too_long")
        // an unknown or unreadable profile is refused too
        #expect(try Self.refusal(Leaf()) { Self.context($0, profile: nil) } == "usage_not_allowed")
    }

    @Test("usage_not_allowed: id-kp-OCSPSigning in a leaf; no profile can even name it")
    func ocspSigningLeaf() throws {
        #expect(try Self.refusal(Self.mutated { $0.ekus = [.serverAuth, .ocspSigning] }) == "usage_not_allowed")
        #expect(CertificateProfile.Usage(rawValue: "ocspSigning") == nil)
        #expect(CertificateProfile(id: "x", description: "", allowedKeyAlgorithmNames: ["ecdsa-p256"], maxValidityDays: 1,
                                   extendedKeyUsageNames: ["ocspSigning"], allowedSANTypeNames: [], sanPatterns: [], allowCA: false) == nil,
                "a stored profile that names it is unusable")
    }

    @Test("no_reservation: a row that is not pending")
    func notPending() throws {
        for status in ["issued", "failed", "revoked"] {
            #expect(try Self.refusal(Leaf()) { r in var r = r; r.status = status; return Self.context(r) } == "no_reservation")
        }
    }

    @Test("reservation_mismatch: serial, generation, subject, public key, subjectAltNames or validity other than reserved")
    func reservationMismatch() throws {
        let leaf = Leaf()
        func mismatch(_ change: @escaping (inout LeafReservation) -> Void, generation: Int = 1) throws -> String? {
            try Self.refusal(leaf, generation: generation) { r in var r = r; change(&r); return Self.context(r) }
        }
        #expect(try mismatch({ $0.serialHex = "1234567890abcdef12" }) == "reservation_mismatch")
        #expect(try mismatch({ $0.issuerGeneration = 2 }) == "reservation_mismatch")
        #expect(try mismatch({ _ in }, generation: 2) == "reservation_mismatch")
        #expect(try mismatch({ $0.subjectDER = try! ReservationFields.subjectDER(try! SubjectName.parse("CN=other.example.com")) })
                == "reservation_mismatch")
        #expect(try mismatch({ $0.spkiSHA256 = try! ReservationFields.spkiSHA256(Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)) })
                == "reservation_mismatch")
        #expect(try mismatch({ $0.subjectAltNames = ["DNS:other.example.com"] }) == "reservation_mismatch")
        #expect(try mismatch({ $0.subjectAltNames = ["DNS:app.example.com", "DNS:extra.example.com"] }) == "reservation_mismatch")
        #expect(try mismatch({ $0.subjectAltNames = [] }) == "reservation_mismatch")
        #expect(try mismatch({ $0.notAfter = $0.notAfter?.addingTimeInterval(1) }) == "reservation_mismatch")
        #expect(try mismatch({ $0.notBefore = $0.notBefore?.addingTimeInterval(-1) }) == "reservation_mismatch")
        #expect(try mismatch({ $0.subjectDER = nil }) == "reservation_mismatch", "a reservation that recorded no subject")
        // the TBS repeats a SAN the reservation lists once
        let doubled = Self.mutated { $0.sans = [.dnsName("app.example.com"), .dnsName("app.example.com")] }
        #expect(try Self.refusal(doubled) { r in var r = r; r.subjectAltNames = ["DNS:app.example.com"]; return Self.context(r) }
                == "reservation_mismatch")
    }

    @Test("profile_not_allowed_for_caller: enroll under a profile no SCEP endpoint or EST label uses, another service's reservation, an unknown caller")
    func caller() throws {
        #expect(try Self.refusal(Leaf(), caller: "enroll") { r in var r = r; r.reservedBy = "certctl_enroll"; return Self.context(r) }
                == "profile_not_allowed_for_caller")
        #expect(try Self.refusal(Leaf(), caller: "enroll") { Self.context($0, servesEnrollment: true) } == "profile_not_allowed_for_caller",
                "a reservation made by certctl_admin")
        #expect(try Self.refusal(Leaf(), caller: "ocsp") == "profile_not_allowed_for_caller")
    }

    // MARK: OCSP responder certificates

    static func responder(_ change: (inout Leaf) -> Void = { _ in }) throws -> String? {
        var leaf = Leaf()
        leaf.ekus = [.ocspSigning]
        leaf.extra = [Self.raw([1, 3, 6, 1, 5, 5, 7, 48, 1, 5], [0x05, 0x00])]
        leaf.sans = []
        change(&leaf)
        let certificate = try leaf.certificate()
        do {
            try SigningPolicy.checkOCSPResponder(certificate, ca: ca, now: now)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("a responder certificate carries EKU OCSPSigning only, id-pkix-ocsp-nocheck, digitalSignature, is no CA and lives at most 90 days")
    func responderRules() throws {
        #expect(try Self.responder() == nil)
        #expect(try Self.responder { $0.ekus = [.ocspSigning, .serverAuth] } == "usage_not_allowed")
        #expect(try Self.responder { $0.ekus = [] } == "usage_not_allowed")
        #expect(try Self.responder { $0.extra = [] } == "extension_not_allowed")
        #expect(try Self.responder { $0.basicConstraints = .isCertificateAuthority(maxPathLength: 0) } == "ca_not_allowed")
        #expect(try Self.responder { $0.keyUsage = KeyUsage(digitalSignature: true, keyCertSign: true) } == "usage_not_allowed")
        #expect(try Self.responder { $0.notAfter = $0.notBefore.addingTimeInterval(91 * 86_400) } == "validity_too_long")
        #expect(try Self.responder { $0.extra.append(Self.raw(.X509ExtensionID.extendedKeyUsage, [0x04, 0x00])) } == "extension_malformed")
        #expect(try Self.responder { $0.algorithm = .ecdsaWithSHA384 } == "signature_algorithm_mismatch")
    }
}
