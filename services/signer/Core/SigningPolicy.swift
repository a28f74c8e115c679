import CertctlPKI
import CertctlStore
import Foundation
import SwiftASN1
import X509

/// What the signer checks before it signs a TBSCertificate. Pure: no I/O;
/// what it compares with (the reservation, the profile) the caller reads
/// from the database first. An extension that cannot be parsed is a refusal,
/// never an absent extension.
package enum SigningPolicy {
    /// Extensions a certctl leaf may carry.
    static let leafExtensions: Set<ASN1ObjectIdentifier> = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectKeyIdentifier, .X509ExtensionID.authorityKeyIdentifier,
        .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.authorityInformationAccess,
        CRLDistributionPoints.oid,
    ]
    static let ocspNoCheck: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5]
    /// How far notBefore may be from the signer's clock.
    static let notBeforeSkew: TimeInterval = 86_400

    /// Checks every TBS shares: version, algorithm, issuer name and key id, validity, serial, critical extensions.
    package static func checkCommon(_ tbs: Certificate, ca: LoadedCA, now: Date) throws(SigningRefusal) {
        guard tbs.version == .v3 else { throw .malformed("certificate version must be v3") }
        guard tbs.signatureAlgorithm == ca.algorithm.signatureAlgorithm else {
            throw .signatureAlgorithm("signature algorithm \(tbs.signatureAlgorithm) is not the issuer's \(ca.algorithm.signatureAlgorithm)")
        }
        guard tbs.issuer == ca.certificate.subject else {
            throw .issuerMismatch("issuer name \(tbs.issuer) is not the CA's subject \(ca.certificate.subject)")
        }
        let aki = try parsed("authorityKeyIdentifier") { try tbs.extensions.authorityKeyIdentifier }
        let expectedKeyID = try? TBSCertificateBuilder.issuerKeyIdentifier(ca.certificate)
        guard let keyID = aki?.keyIdentifier, keyID == expectedKeyID else {
            throw .issuerMismatch("authorityKeyIdentifier is missing or is not the CA's key identifier")
        }
        guard tbs.notValidBefore < tbs.notValidAfter else { throw .validity("notBefore is not before notAfter") }
        guard tbs.notValidBefore >= ca.certificate.notValidBefore, tbs.notValidAfter <= ca.certificate.notValidAfter else {
            throw .validity("validity \(tbs.notValidBefore)–\(tbs.notValidAfter) is not inside the CA's \(ca.certificate.notValidBefore)–\(ca.certificate.notValidAfter)")
        }
        guard abs(tbs.notValidBefore.timeIntervalSince(now)) <= notBeforeSkew else {
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

    /// A leaf for a reservation: the TBS must pass the issuer's and the
    /// reserved profile's rules and say exactly what the reservation recorded;
    /// `caller` must be allowed that profile. `generation` is the issuer's
    /// active generation (retired ones never sign leaves).
    package static func checkLeaf(
        _ tbs: Certificate, ca: LoadedCA, generation: Int, context: LeafSigningContext, caller: String, now: Date = Date()
    ) throws(SigningRefusal) {
        let reservation = context.reservation
        guard reservation.status == "pending" else {
            throw .noReservation("certificate row \(reservation.certificateID) is \(reservation.status), not pending")
        }
        try checkCommon(tbs, ca: ca, now: now)
        for ext in tbs.extensions where !leafExtensions.contains(ext.oid) {
            throw .extensions("extension \(ext.oid) is not allowed in a leaf certificate")
        }
        guard let profile = context.profile else {
            throw .notAllowed(.usageNotAllowed("profile \(reservation.profileID ?? "(none)") does not exist or holds values this build does not know"))
        }
        let constraints = try parsed("basicConstraints") { try tbs.extensions.basicConstraints }
        let usage = try parsed("keyUsage") { try tbs.extensions.keyUsage }
        let extendedUsages = Array(try parsed("extendedKeyUsage") { try tbs.extensions.extendedKeyUsage } ?? ExtendedKeyUsage())
        let sans = Array(try parsed("subjectAltName") { try tbs.extensions.subjectAlternativeNames } ?? SubjectAlternativeNames())
        let isCA: Bool
        if case .isCertificateAuthority? = constraints { isCA = true } else { isCA = false }
        if isCA, !(context.issuerAllowsSubCA && profile.allowCA) {
            throw .notAllowed(.caNotAllowed("basicConstraints CA:TRUE is not allowed (issuer allows sub-CAs: \(context.issuerAllowsSubCA), profile \(profile.id) allows CA: \(profile.allowCA))"))
        }
        // Only a delegated responder certificate may answer OCSP for the CA, whatever a profile says.
        guard !extendedUsages.contains(.ocspSigning) else {
            throw .notAllowed(.usageNotAllowed("extended key usage OCSPSigning is reserved for delegated OCSP responder certificates"))
        }
        do throws(ProfileViolation) {
            let algorithm = try profile.checkKey(tbs.publicKey)
            if let usage {
                let allowed = KeyUsage(digitalSignature: true, keyEncipherment: algorithm.isRSA, keyCertSign: isCA, cRLSign: isCA)
                guard isSubset(usage, of: allowed) else {
                    throw ProfileViolation.usageNotAllowed("key usage \(usage) is not allowed for a \(algorithm.rawValue) \(isCA ? "CA" : "leaf")")
                }
            }
            try profile.checkExtendedKeyUsages(extendedUsages)
            try profile.checkSANs(sans)
            try profile.checkValidity(notBefore: tbs.notValidBefore, notAfter: tbs.notValidAfter)
        } catch {
            throw .notAllowed(error)
        }
        try checkMatches(tbs, sans: sans, reservation: reservation, generation: generation)
        try checkCaller(caller, context: context)
    }

    /// The TBS says what the reservation recorded, field by field.
    static func checkMatches(
        _ tbs: Certificate, sans: [GeneralName], reservation: LeafReservation, generation: Int
    ) throws(SigningRefusal) {
        guard SerialNumber.canonicalHex(ofDERInteger: tbs.serialNumber.bytes) == reservation.serialHex else {
            throw .reservationMismatch("serial number is not the reserved one (\(reservation.serialHex))")
        }
        guard reservation.issuerGeneration == generation else {
            throw .reservationMismatch("the reservation is for issuer generation \(reservation.issuerGeneration.map(String.init) ?? "none"), not the active generation \(generation)")
        }
        guard let subjectDER = reservation.subjectDER, let spki = reservation.spkiSHA256 else {
            throw .reservationMismatch("the reservation records no subject or public key to compare with")
        }
        guard (try? ReservationFields.subjectDER(tbs.subject)) == subjectDER else {
            throw .reservationMismatch("subject \(tbs.subject) is not the reserved subject")
        }
        guard (try? ReservationFields.spkiSHA256(tbs.publicKey)) == spki else {
            throw .reservationMismatch("the public key is not the one in the reserved request")
        }
        let names = sans.map(GeneralNameText.describe)
        guard names.count == Set(names).count, Set(names) == Set(reservation.subjectAltNames) else {
            throw .reservationMismatch("subjectAltNames \(names.sorted()) are not the reserved \(reservation.subjectAltNames.sorted())")
        }
        guard let notBefore = reservation.notBefore, let notAfter = reservation.notAfter,
              tbs.notValidBefore == notBefore, tbs.notValidAfter == notAfter else {
            throw .reservationMismatch("validity \(tbs.notValidBefore)–\(tbs.notValidAfter) is not the reserved validity")
        }
    }

    /// admin issues under any profile; enroll only under a profile an SCEP
    /// endpoint or EST label uses. A reservation made by a certctl service's
    /// database role must be the caller's own.
    static func checkCaller(_ caller: String, context: LeafSigningContext) throws(SigningRefusal) {
        let reservedBy = context.reservation.reservedBy
        if reservedBy.hasPrefix("certctl_"), reservedBy != "certctl_\(caller)" {
            throw .profileNotAllowedForCaller("the reservation was made by database role \(reservedBy), not by certctl-\(caller)'s")
        }
        switch caller {
        case "admin": return
        case "enroll" where context.profileServesEnrollment: return
        default:
            throw .profileNotAllowedForCaller("certctl-\(caller) may not issue under profile \(context.reservation.profileID ?? "(none)"): no SCEP endpoint or EST label of issuer \(context.reservation.issuerID) uses it")
        }
    }

    /// A delegated OCSP responder certificate: EKU OCSPSigning only,
    /// id-pkix-ocsp-nocheck, digitalSignature, not a CA, at most 90 days.
    package static func checkOCSPResponder(_ tbs: Certificate, ca: LoadedCA, now: Date = Date()) throws(SigningRefusal) {
        try checkCommon(tbs, ca: ca, now: now)
        let ekus = Array(try parsed("extendedKeyUsage") { try tbs.extensions.extendedKeyUsage } ?? ExtendedKeyUsage())
        guard ekus == [.ocspSigning] else { throw .notAllowed(.usageNotAllowed("a responder certificate must carry EKU OCSPSigning only")) }
        guard tbs.extensions[oid: ocspNoCheck] != nil else { throw .extensions("a responder certificate must carry id-pkix-ocsp-nocheck") }
        if case .isCertificateAuthority? = try parsed("basicConstraints", { try tbs.extensions.basicConstraints }) {
            throw .notAllowed(.caNotAllowed("a responder certificate cannot be a CA"))
        }
        if let usage = try parsed("keyUsage", { try tbs.extensions.keyUsage }), !isSubset(usage, of: KeyUsage(digitalSignature: true)) {
            throw .notAllowed(.usageNotAllowed("a responder certificate may only have keyUsage digitalSignature"))
        }
        _ = try parsed("subjectAltName") { try tbs.extensions.subjectAlternativeNames }
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

    /// An extension's parsed value; a parse failure is a refusal (fail closed).
    static func parsed<T>(_ name: String, _ body: () throws -> T) throws(SigningRefusal) -> T {
        do { return try body() } catch { throw .malformedExtension("\(name) cannot be parsed: \(error)") }
    }
}
