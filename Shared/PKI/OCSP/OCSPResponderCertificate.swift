import Crypto
import Foundation
import SwiftASN1
import X509

/// The delegated OCSP responder certificate certctl asks the signer for
/// (RFC 6960 §4.2.2.2): EKU id-kp-OCSPSigning only, id-pkix-ocsp-nocheck
/// (relying parties do not check the responder's own status), digitalSignature,
/// not a CA, issued directly by the CA generation whose certificates it answers for.
public enum OCSPResponderCertificate {
    public static let ocspNoCheck: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5]

    /// Subject naming the issuer, generation and key, so that rows and logs
    /// of several replicas (each with its own key) can be told apart.
    public static func subject(issuerID: String, generation: Int, keyID: String) throws -> DistinguishedName {
        try DistinguishedName {
            OrganizationName("certctl")
            CommonName("OCSP responder \(issuerID) g\(generation) \(keyID.prefix(16))")
        }
    }

    /// Hex of SHA-256 over the responder's public key (SubjectPublicKeyInfo bits): the key's identity in rows and file names.
    public static func keyID(_ key: P256.Signing.PublicKey) -> String {
        SHA256.hash(data: key.x963Representation).map { String(format: "%02x", $0) }.joined()
    }

    /// The certificate signed by `signingKey`; with the placeholder key its
    /// `tbsCertificateBytes` are what the signer is asked to sign.
    public static func make(
        serial: [UInt8], publicKey: P256.Signing.PublicKey, subject: DistinguishedName, issuer: Certificate,
        notBefore: Date, notAfter: Date, signingKey: Certificate.PrivateKey
    ) throws -> Certificate {
        guard let algorithm = KeyAlgorithm(issuer.publicKey) else { throw PKIError.unsupportedIssuerKey }
        let key = Certificate.PublicKey(publicKey)
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true), critical: true))
        try extensions.append(Certificate.Extension(try ExtendedKeyUsage([.ocspSigning]), critical: false))
        try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: key), critical: false))
        try extensions.append(Certificate.Extension(
            AuthorityKeyIdentifier(keyIdentifier: try TBSCertificateBuilder.issuerKeyIdentifier(issuer)), critical: false))
        // id-pkix-ocsp-nocheck ::= NULL
        try extensions.append(Certificate.Extension(oid: ocspNoCheck, critical: false, value: [0x05, 0x00]))
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial[...]), publicKey: key,
            notValidBefore: notBefore.wholeSeconds, notValidAfter: notAfter.wholeSeconds, issuer: issuer.subject,
            subject: subject, signatureAlgorithm: algorithm.signatureAlgorithm, extensions: extensions,
            issuerPrivateKey: signingKey)
    }

    /// DER TBSCertificate for the signer's SignCertificate(purpose OCSP_RESPONDER).
    public static func tbs(
        serial: [UInt8], publicKey: P256.Signing.PublicKey, subject: DistinguishedName, issuer: Certificate,
        notBefore: Date, notAfter: Date
    ) throws -> [UInt8] {
        guard let algorithm = KeyAlgorithm(issuer.publicKey) else { throw PKIError.unsupportedIssuerKey }
        let placeholder = PlaceholderSigningKey(publicKey: issuer.publicKey, algorithm: algorithm.signatureAlgorithm)
        let certificate = try make(serial: serial, publicKey: publicKey, subject: subject, issuer: issuer,
                                   notBefore: notBefore, notAfter: notAfter, signingKey: Certificate.PrivateKey(placeholder))
        return Array(certificate.tbsCertificateBytes)
    }
}
