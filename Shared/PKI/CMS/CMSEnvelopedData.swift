import SwiftASN1

/// ```
/// KeyTransRecipientInfo ::= SEQUENCE {
///     version CMSVersion,  -- always set to 0 or 2
///     rid RecipientIdentifier,
///     keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
///     encryptedKey EncryptedKey }
/// ```
/// Only `rid = issuerAndSerialNumber` (version 0) is supported; SCEP uses it.
public struct CMSKeyTransRecipientInfo: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var version: Int
    public var rid: CMSIssuerAndSerialNumber
    public var keyEncryptionAlgorithm: CMSAlgorithmIdentifier
    public var encryptedKey: ArraySlice<UInt8>

    public init(rid: CMSIssuerAndSerialNumber, keyEncryptionAlgorithm: CMSAlgorithmIdentifier, encryptedKey: ArraySlice<UInt8>) {
        self.version = 0
        self.rid = rid
        self.keyEncryptionAlgorithm = keyEncryptionAlgorithm
        self.encryptedKey = encryptedKey
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == 0 else {
                throw ASN1Error.invalidASN1Object(reason: "KeyTransRecipientInfo version \(version): only issuerAndSerialNumber is supported")
            }
            let rid = try CMSIssuerAndSerialNumber(derEncoded: &nodes)
            let algorithm = try CMSAlgorithmIdentifier(derEncoded: &nodes)
            let key = try ASN1OctetString(berEncoded: &nodes).bytes
            return Self(rid: rid, keyEncryptionAlgorithm: algorithm, encryptedKey: key)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(version)
            try coder.serialize(rid)
            try coder.serialize(keyEncryptionAlgorithm)
            try coder.serialize(ASN1OctetString(contentBytes: encryptedKey))
        }
    }
}

/// ```
/// EncryptedContentInfo ::= SEQUENCE {
///     contentType ContentType,
///     contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
///     encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
/// ```
public struct CMSEncryptedContentInfo: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var contentType: ASN1ObjectIdentifier
    public var contentEncryptionAlgorithm: CMSAlgorithmIdentifier
    public var encryptedContent: ArraySlice<UInt8>?

    public init(contentType: ASN1ObjectIdentifier, contentEncryptionAlgorithm: CMSAlgorithmIdentifier, encryptedContent: ArraySlice<UInt8>?) {
        self.contentType = contentType
        self.contentEncryptionAlgorithm = contentEncryptionAlgorithm
        self.encryptedContent = encryptedContent
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let type = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let algorithm = try CMSAlgorithmIdentifier(derEncoded: &nodes)
            let tag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
            let content = try DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try ASN1OctetString(berEncoded: $0, withIdentifier: tag).bytes
            }
            return Self(contentType: type, contentEncryptionAlgorithm: algorithm, encryptedContent: content)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(contentType)
            try coder.serialize(contentEncryptionAlgorithm)
            if let encryptedContent {
                try ASN1OctetString(contentBytes: encryptedContent)
                    .serialize(into: &coder, withIdentifier: .init(tagWithNumber: 0, tagClass: .contextSpecific))
            }
        }
    }
}

/// ```
/// EnvelopedData ::= SEQUENCE {
///     version CMSVersion,
///     originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
///     recipientInfos RecipientInfos,
///     encryptedContentInfo EncryptedContentInfo,
///     unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
/// ```
/// RecipientInfos other than KeyTransRecipientInfo make the parse fail:
/// SCEP (RFC 8894 §3.2.2) uses RSA key transport only.
public struct CMSEnvelopedData: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public var version: Int
    public var recipientInfos: [CMSKeyTransRecipientInfo]
    public var encryptedContentInfo: CMSEncryptedContentInfo

    public init(recipientInfos: [CMSKeyTransRecipientInfo], encryptedContentInfo: CMSEncryptedContentInfo) {
        self.version = 0
        self.recipientInfos = recipientInfos
        self.encryptedContentInfo = encryptedContentInfo
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == 0 || version == 2 else {
                throw ASN1Error.invalidASN1Object(reason: "EnvelopedData version \(version) is not 0 or 2")
            }
            _ = try DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { $0 }
            let recipients = try CMSSet.parse(&nodes, as: CMSKeyTransRecipientInfo.self)
            let encrypted = try CMSEncryptedContentInfo(derEncoded: &nodes)
            var value = Self(recipientInfos: recipients, encryptedContentInfo: encrypted)
            value.version = version
            return value
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(version)
            try coder.serializeSetOf(recipientInfos)
            try coder.serialize(encryptedContentInfo)
        }
    }
}
