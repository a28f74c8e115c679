import Foundation
import SwiftASN1
import X509

/// Everything a leaf certificate says, decided by the issuance core before
/// anything is signed.
public struct LeafCertificateContent: Sendable {
    public var serial: [UInt8]
    public var subject: DistinguishedName
    public var publicKey: Certificate.PublicKey
    public var notBefore: Date
    public var notAfter: Date
    public var subjectAlternativeNames: [GeneralName]
    public var extendedKeyUsages: [ExtendedKeyUsage.Usage]
    public var ocspURL: String
    public var crlURL: String
    public var caIssuersURL: String

    public init(
        serial: [UInt8], subject: DistinguishedName, publicKey: Certificate.PublicKey,
        notBefore: Date, notAfter: Date, subjectAlternativeNames: [GeneralName],
        extendedKeyUsages: [ExtendedKeyUsage.Usage], ocspURL: String, crlURL: String, caIssuersURL: String
    ) {
        self.serial = serial
        self.subject = subject
        self.publicKey = publicKey
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.subjectAlternativeNames = subjectAlternativeNames
        self.extendedKeyUsages = extendedKeyUsages
        self.ocspURL = ocspURL
        self.crlURL = crlURL
        self.caIssuersURL = caIssuersURL
    }
}

/// Builds the DER TBSCertificate that the signer is asked to sign.
///
/// swift-certificates keeps `TBSCertificate` internal and only builds one as
/// part of signing, so the builder hands it a stand-in key that records
/// nothing and returns a placeholder signature; the TBS bytes it encodes are
/// exactly what the real CA key will sign (they depend on the signature
/// algorithm, never on the key).
public enum TBSCertificateBuilder {
    public static func leaf(_ content: LeafCertificateContent, issuer: Certificate) throws -> [UInt8] {
        guard let algorithm = KeyAlgorithm(issuer.publicKey) else {
            throw PKIError.unsupportedIssuerKey
        }
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true))
        let keyIsRSA = KeyAlgorithm(content.publicKey)?.isRSA ?? false
        try extensions.append(Certificate.Extension(
            KeyUsage(digitalSignature: true, keyEncipherment: keyIsRSA), critical: true))
        if !content.extendedKeyUsages.isEmpty {
            try extensions.append(Certificate.Extension(
                try ExtendedKeyUsage(content.extendedKeyUsages), critical: false))
        }
        try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: content.publicKey), critical: false))
        try extensions.append(Certificate.Extension(
            AuthorityKeyIdentifier(keyIdentifier: try issuerKeyIdentifier(issuer)), critical: false))
        if !content.subjectAlternativeNames.isEmpty {
            // critical when the subject is empty (RFC 5280 §4.2.1.6)
            try extensions.append(Certificate.Extension(
                SubjectAlternativeNames(content.subjectAlternativeNames), critical: content.subject.isEmpty))
        }
        try extensions.append(Certificate.Extension(AuthorityInformationAccess([
            .init(method: .ocspServer, location: .uniformResourceIdentifier(content.ocspURL)),
            .init(method: .issuingCA, location: .uniformResourceIdentifier(content.caIssuersURL)),
        ]), critical: false))
        try extensions.append(CRLDistributionPoints.makeExtension(uri: content.crlURL))

        let placeholder = PlaceholderSigningKey(publicKey: issuer.publicKey, algorithm: algorithm.signatureAlgorithm)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(bytes: content.serial[...]),
            publicKey: content.publicKey,
            notValidBefore: content.notBefore,
            notValidAfter: content.notAfter,
            issuer: issuer.subject,
            subject: content.subject,
            signatureAlgorithm: algorithm.signatureAlgorithm,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(placeholder))
        return Array(certificate.tbsCertificateBytes)
    }

    /// The issuer's subjectKeyIdentifier, or the RFC 5280 method-1 hash of its key.
    public static func issuerKeyIdentifier(_ issuer: Certificate) throws -> ArraySlice<UInt8> {
        if let ski = try issuer.extensions.subjectKeyIdentifier { return ski.keyIdentifier }
        return SubjectKeyIdentifier(hash: issuer.publicKey).keyIdentifier
    }
}

/// Stand-in "private key" that lets swift-certificates encode a TBS without a
/// real key. Its signature is a fixed, well-formed placeholder; it is never
/// published: only `tbsCertificateBytes` is used.
struct PlaceholderSigningKey: CustomPrivateKey {
    let publicKey: Certificate.PublicKey
    let algorithm: Certificate.SignatureAlgorithm

    var defaultSignatureAlgorithm: Certificate.SignatureAlgorithm { algorithm }
    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] { [algorithm] }

    func signSynchronously(
        bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm
    ) throws -> Certificate.Signature {
        // ECDSA-Sig-Value ::= SEQUENCE { r INTEGER 1, s INTEGER 1 }; any bytes do for RSA.
        try Certificate.Signature(
            signatureAlgorithm: signatureAlgorithm,
            signatureBytes: ASN1BitString(bytes: [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]))
    }

    static var defaultPEMDiscriminator: String { "PLACEHOLDER KEY" }

    func serialize(into coder: inout DER.Serializer) throws {
        throw PKIError.placeholderKeyNotSerializable
    }

    func serializeAsPEM() throws -> PEMDocument {
        throw PKIError.placeholderKeyNotSerializable
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.publicKey == rhs.publicKey }
    func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }
}

/// CRLDistributionPoints (RFC 5280 §4.2.1.13), which swift-certificates lacks.
///
///     CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
///     DistributionPoint ::= SEQUENCE {
///          distributionPoint       [0]     DistributionPointName OPTIONAL,
///          reasons                 [1]     ReasonFlags OPTIONAL,
///          cRLIssuer               [2]     GeneralNames OPTIONAL }
///     DistributionPointName ::= CHOICE {
///          fullName                [0]     GeneralNames,
///          nameRelativeToCRLIssuer [1]     RelativeDistinguishedName }
public enum CRLDistributionPoints {
    public static let oid: ASN1ObjectIdentifier = [2, 5, 29, 31]

    public static func makeExtension(uri: String) throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { points in
            try points.appendConstructedNode(identifier: .sequence) { point in
                try point.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { name in
                    try name.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { fullName in
                        try fullName.serialize(GeneralName.uniformResourceIdentifier(uri))
                    }
                }
            }
        }
        return Certificate.Extension(oid: oid, critical: false, value: serializer.serializedBytes[...])
    }

    /// The URIs of a CRLDistributionPoints extension value (fullName URIs only).
    public static func uris(_ value: ArraySlice<UInt8>) throws -> [String] {
        let root = try DER.parse(value)
        let context = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
        guard root.identifier == .sequence, case .constructed(let points) = root.content else { return [] }
        var result: [String] = []
        for point in points {
            guard case .constructed(let fields) = point.content else { continue }
            for field in fields where field.identifier == context {
                guard case .constructed(let names) = field.content else { continue }
                for name in names where name.identifier == context {
                    guard case .constructed(let generalNames) = name.content else { continue }
                    for generalName in generalNames {
                        if case .uniformResourceIdentifier(let uri) = try GeneralName(derEncoded: generalName) {
                            result.append(uri)
                        }
                    }
                }
            }
        }
        return result
    }
}

public enum PKIError: Error, Equatable, CustomStringConvertible {
    case unsupportedIssuerKey
    case placeholderKeyNotSerializable
    case malformedTBS(String)

    public var description: String {
        switch self {
        case .unsupportedIssuerKey: return "the issuer's key algorithm is not supported"
        case .placeholderKeyNotSerializable: return "internal: placeholder key cannot be serialised"
        case .malformedTBS(let reason): return "malformed TBSCertificate: \(reason)"
        }
    }
}
