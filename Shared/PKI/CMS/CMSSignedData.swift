import SwiftASN1
import X509

/// ```
/// EncapsulatedContentInfo ::= SEQUENCE {
///     eContentType ContentType,
///     eContent [0] EXPLICIT OCTET STRING OPTIONAL }
/// ```
public struct CMSEncapsulatedContentInfo: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var eContentType: ASN1ObjectIdentifier
    public var eContent: ArraySlice<UInt8>?

    public init(eContentType: ASN1ObjectIdentifier, eContent: ArraySlice<UInt8>?) {
        self.eContentType = eContentType
        self.eContent = eContent
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let type = try ASN1ObjectIdentifier(derEncoded: &nodes)
            // BER: senders may split the content into a constructed OCTET STRING.
            let content = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try ASN1OctetString(berEncoded: $0).bytes
            }
            return Self(eContentType: type, eContent: content)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(eContentType)
            if let eContent {
                try coder.serialize(ASN1OctetString(contentBytes: eContent), explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
        }
    }
}

/// ```
/// SignerInfo ::= SEQUENCE {
///     version CMSVersion,
///     sid SignerIdentifier,
///     digestAlgorithm DigestAlgorithmIdentifier,
///     signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
///     signatureAlgorithm SignatureAlgorithmIdentifier,
///     signature SignatureValue,
///     unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
/// SignerIdentifier ::= CHOICE {
///     issuerAndSerialNumber IssuerAndSerialNumber,
///     subjectKeyIdentifier [0] SubjectKeyIdentifier }
/// ```
/// Only `issuerAndSerialNumber` is supported (SCEP uses it). `signedAttrsDER`
/// keeps the attributes exactly as received, re-tagged as SET OF, because the
/// signature covers those bytes (RFC 5652 §5.4), not a re-encoding.
public struct CMSSignerInfo: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var version: Int
    public var sid: CMSIssuerAndSerialNumber
    public var digestAlgorithm: CMSAlgorithmIdentifier
    public var signedAttrs: [CMSAttribute]
    public var signedAttrsDER: [UInt8]
    public var signatureAlgorithm: CMSAlgorithmIdentifier
    public var signature: ArraySlice<UInt8>

    public init(sid: CMSIssuerAndSerialNumber, digestAlgorithm: CMSAlgorithmIdentifier, signedAttrs: [CMSAttribute],
                signatureAlgorithm: CMSAlgorithmIdentifier, signature: ArraySlice<UInt8>) throws {
        self.version = 1
        self.sid = sid
        self.digestAlgorithm = digestAlgorithm
        self.signedAttrs = signedAttrs
        self.signedAttrsDER = try Self.encodeSet(signedAttrs)
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = signature
    }

    /// DER of `SET OF Attribute`: what a signature over signed attributes covers.
    public static func encodeSet(_ attributes: [CMSAttribute]) throws -> [UInt8] {
        var coder = DER.Serializer()
        try coder.serializeSetOf(attributes)
        return coder.serializedBytes
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == 1 else {
                throw ASN1Error.invalidASN1Object(reason: "SignerInfo version \(version): only issuerAndSerialNumber (version 1) is supported")
            }
            let sid = try CMSIssuerAndSerialNumber(derEncoded: &nodes)
            let digest = try CMSAlgorithmIdentifier(derEncoded: &nodes)
            let attrTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
            var attrs: [CMSAttribute] = []
            var attrsDER: [UInt8] = []
            if let node = try DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific, { $0 }) {
                attrs = try CMSSet.parse(node, identifier: attrTag, as: CMSAttribute.self)
                attrsDER = Array(node.encodedBytes)
                attrsDER[0] = 0x31  // [0] IMPLICIT → universal SET, constructed
            }
            let signatureAlgorithm = try CMSAlgorithmIdentifier(derEncoded: &nodes)
            guard let signatureNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "SignerInfo without signature") }
            let signature = try ASN1OctetString(berEncoded: signatureNode).bytes
            _ = nodes.next()  // unsignedAttrs: ignored
            var info = try Self(sid: sid, digestAlgorithm: digest, signedAttrs: [], signatureAlgorithm: signatureAlgorithm, signature: signature)
            info.signedAttrs = attrs
            info.signedAttrsDER = attrsDER
            info.version = version
            return info
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(version)
            try coder.serialize(sid)
            try coder.serialize(digestAlgorithm)
            try coder.serializeSetOf(signedAttrs, identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific))
            try coder.serialize(signatureAlgorithm)
            try coder.serialize(ASN1OctetString(contentBytes: signature))
        }
    }
}

/// ```
/// SignedData ::= SEQUENCE {
///     version CMSVersion,
///     digestAlgorithms DigestAlgorithmIdentifiers,
///     encapContentInfo EncapsulatedContentInfo,
///     certificates [0] IMPLICIT CertificateSet OPTIONAL,
///     crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///     signerInfos SignerInfos }
/// ```
/// A "degenerate" SignedData (no signers, only certificates) is the
/// certs-only PKCS#7 of GetCACert and of EST responses.
public struct CMSSignedData: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var version: Int
    public var digestAlgorithms: [CMSAlgorithmIdentifier]
    public var encapContentInfo: CMSEncapsulatedContentInfo
    public var certificates: [Certificate]
    public var signerInfos: [CMSSignerInfo]

    public init(version: Int = 1, digestAlgorithms: [CMSAlgorithmIdentifier], encapContentInfo: CMSEncapsulatedContentInfo,
                certificates: [Certificate], signerInfos: [CMSSignerInfo]) {
        self.version = version
        self.digestAlgorithms = digestAlgorithms
        self.encapContentInfo = encapContentInfo
        self.certificates = certificates
        self.signerInfos = signerInfos
    }

    /// Certs-only SignedData wrapped in its ContentInfo, DER.
    public static func certsOnly(_ certificates: [Certificate]) throws -> [UInt8] {
        let signed = CMSSignedData(digestAlgorithms: [], encapContentInfo: .init(eContentType: CMSOID.data, eContent: nil),
                                   certificates: certificates, signerInfos: [])
        return try signed.contentInfoDER()
    }

    public func contentInfoDER() throws -> [UInt8] {
        var coder = DER.Serializer()
        try coder.serialize(CMSContentInfo(contentType: CMSOID.signedData, content: ASN1Any(erasing: self)))
        return coder.serializedBytes
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try Int(derEncoded: &nodes)
            let digests = try CMSSet.parse(&nodes, as: CMSAlgorithmIdentifier.self)
            let encap = try CMSEncapsulatedContentInfo(derEncoded: &nodes)
            let certificates = try DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try CMSSet.parse(node, identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific), as: Certificate.self)
            } ?? []
            _ = try DER.optionalImplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { $0 }
            let signers = try CMSSet.parse(&nodes, as: CMSSignerInfo.self)
            return Self(version: version, digestAlgorithms: digests, encapContentInfo: encap,
                        certificates: certificates, signerInfos: signers)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(version)
            try coder.serializeSetOf(digestAlgorithms)
            try coder.serialize(encapContentInfo)
            if !certificates.isEmpty {
                // Keep the given order (RA first for GetCACert): an implicit SET, written as the caller listed it.
                try coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) { coder in
                    for certificate in certificates { try coder.serialize(certificate) }
                }
            }
            try coder.serializeSetOf(signerInfos)
        }
    }
}
