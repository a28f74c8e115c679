import CertctlPKI
import Foundation
import SwiftASN1
import X509

/// Why the signer refuses a request. `code` goes into the audit log, the
/// refusal metric and the gRPC error the caller maps to its own protocol.
enum SigningRefusal: Error, CustomStringConvertible {
    case malformed(String)
    case signatureAlgorithm(String)
    case issuerMismatch(String)
    case validity(String)
    case serial(String)
    case notAllowed(ProfileViolation)
    case extensions(String)
    case noReservation(String)
    case crlNumber(String)

    var code: String {
        switch self {
        case .malformed: return "malformed_tbs"
        case .signatureAlgorithm: return "signature_algorithm_mismatch"
        case .issuerMismatch: return "issuer_mismatch"
        case .validity: return "validity_outside_ca"
        case .serial: return "serial_invalid"
        case .notAllowed(let violation): return violation.code
        case .extensions: return "extension_not_allowed"
        case .noReservation: return "no_reservation"
        case .crlNumber: return "crl_number_not_increasing"
        }
    }

    var description: String {
        switch self {
        case .malformed(let text), .signatureAlgorithm(let text), .issuerMismatch(let text), .validity(let text),
             .serial(let text), .extensions(let text), .noReservation(let text), .crlNumber(let text):
            return text
        case .notAllowed(let violation): return violation.description
        }
    }
}

/// What the signer checks before it signs a TBSCertificate. Pure: no I/O.
enum SigningPolicy {
    /// Extensions a certctl leaf may carry.
    static let leafExtensions: Set<ASN1ObjectIdentifier> = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectKeyIdentifier, .X509ExtensionID.authorityKeyIdentifier,
        .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.authorityInformationAccess,
        CRLDistributionPoints.oid,
    ]
    static let ocspNoCheck: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5]

    static func checkCommon(_ tbs: Certificate, ca: LoadedCA, now: Date) throws(SigningRefusal) {
        guard tbs.version == .v3 else { throw .malformed("certificate version must be v3") }
        guard tbs.signatureAlgorithm == ca.algorithm.signatureAlgorithm else {
            throw .signatureAlgorithm("signature algorithm \(tbs.signatureAlgorithm) is not the issuer's \(ca.algorithm.signatureAlgorithm)")
        }
        guard tbs.issuer == ca.certificate.subject else {
            throw .issuerMismatch("issuer name \(tbs.issuer) is not the CA's subject \(ca.certificate.subject)")
        }
        let expectedKeyID = try? TBSCertificateBuilder.issuerKeyIdentifier(ca.certificate)
        guard let aki = try? tbs.extensions.authorityKeyIdentifier, let keyID = aki.keyIdentifier,
              keyID == expectedKeyID
        else { throw .issuerMismatch("authorityKeyIdentifier is missing or is not the CA's key identifier") }
        guard tbs.notValidBefore < tbs.notValidAfter else { throw .validity("notBefore is not before notAfter") }
        guard tbs.notValidBefore >= ca.certificate.notValidBefore, tbs.notValidAfter <= ca.certificate.notValidAfter else {
            throw .validity("validity \(tbs.notValidBefore)–\(tbs.notValidAfter) is not inside the CA's \(ca.certificate.notValidBefore)–\(ca.certificate.notValidAfter)")
        }
        guard abs(tbs.notValidBefore.timeIntervalSince(now)) <= 86_400 else {
            throw .validity("notBefore \(tbs.notValidBefore) is more than a day from now")
        }
        let serial = Array(tbs.serialNumber.bytes)
        guard let first = serial.first, first & 0x80 == 0, serial.contains(where: { $0 != 0 }) else {
            throw .serial("serial number must be positive")
        }
        guard serial.count <= 20 else { throw .serial("serial number is longer than 20 octets") }
        // ≥ 64 random bits: at least 9 octets (the first carries ≤ 7 bits).
        guard serial.drop(while: { $0 == 0 }).count >= 9 else {
            throw .serial("serial number has fewer than 64 bits of entropy (\(serial.count) octets)")
        }
        for ext in tbs.extensions where ext.critical && !leafExtensions.contains(ext.oid) && ext.oid != ocspNoCheck {
            throw .extensions("unknown critical extension \(ext.oid)")
        }
    }

    static func checkLeaf(
        _ tbs: Certificate, ca: LoadedCA, issuerAllowsSubCA: Bool, profile: CertificateProfile, now: Date = Date()
    ) throws(SigningRefusal) {
        try checkCommon(tbs, ca: ca, now: now)
        for ext in tbs.extensions where !leafExtensions.contains(ext.oid) {
            throw .extensions("extension \(ext.oid) is not allowed in a leaf certificate")
        }
        let isCA: Bool
        switch try? tbs.extensions.basicConstraints {
        case .isCertificateAuthority?: isCA = true
        default: isCA = false
        }
        if isCA, !(issuerAllowsSubCA && profile.allowCA) {
            throw .notAllowed(.caNotAllowed("basicConstraints CA:TRUE is not allowed (issuer allows sub-CAs: \(issuerAllowsSubCA), profile \(profile.id) allows CA: \(profile.allowCA))"))
        }
        do {
            let algorithm = try profile.checkKey(tbs.publicKey)
            if let usage = try? tbs.extensions.keyUsage {
                let allowed = KeyUsage(digitalSignature: true, keyEncipherment: algorithm.isRSA,
                                       keyCertSign: isCA, cRLSign: isCA)
                guard Self.isSubset(usage, of: allowed) else {
                    throw ProfileViolation.usageNotAllowed("key usage \(usage) is not allowed for a \(algorithm.rawValue) \(isCA ? "CA" : "leaf")")
                }
            }
            try profile.checkExtendedKeyUsages(Array((try? tbs.extensions.extendedKeyUsage) ?? ExtendedKeyUsage()))
            try profile.checkSANs(Array((try? tbs.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames()))
            try profile.checkValidity(notBefore: tbs.notValidBefore, notAfter: tbs.notValidAfter)
        } catch let violation as ProfileViolation {
            throw .notAllowed(violation)
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// A delegated OCSP responder certificate: EKU OCSPSigning only,
    /// id-pkix-ocsp-nocheck, digitalSignature, not a CA, at most 90 days.
    static func checkOCSPResponder(_ tbs: Certificate, ca: LoadedCA, now: Date = Date()) throws(SigningRefusal) {
        try checkCommon(tbs, ca: ca, now: now)
        let ekus = Array((try? tbs.extensions.extendedKeyUsage) ?? ExtendedKeyUsage())
        guard ekus == [.ocspSigning] else { throw .notAllowed(.usageNotAllowed("a responder certificate must carry EKU OCSPSigning only")) }
        guard tbs.extensions[oid: ocspNoCheck] != nil else { throw .extensions("a responder certificate must carry id-pkix-ocsp-nocheck") }
        if case .isCertificateAuthority? = try? tbs.extensions.basicConstraints {
            throw .notAllowed(.caNotAllowed("a responder certificate cannot be a CA"))
        }
        guard tbs.notValidAfter.timeIntervalSince(tbs.notValidBefore) <= 90 * 86_400 else {
            throw .notAllowed(.validityTooLong("a responder certificate may be valid for at most 90 days"))
        }
        guard KeyAlgorithm(tbs.publicKey) != nil else {
            throw .notAllowed(.keyNotAllowed("\(KeyAlgorithm.describeUnsupported(tbs.publicKey)) is not supported"))
        }
    }

    static func isSubset(_ usage: KeyUsage, of allowed: KeyUsage) -> Bool {
        (!usage.digitalSignature || allowed.digitalSignature) && (!usage.nonRepudiation || allowed.nonRepudiation)
            && (!usage.keyEncipherment || allowed.keyEncipherment) && (!usage.dataEncipherment || allowed.dataEncipherment)
            && (!usage.keyAgreement || allowed.keyAgreement) && (!usage.keyCertSign || allowed.keyCertSign)
            && (!usage.cRLSign || allowed.cRLSign) && (!usage.encipherOnly || allowed.encipherOnly)
            && (!usage.decipherOnly || allowed.decipherOnly)
    }
}
