import SwiftASN1

/// The body of EST `/csrattrs` (RFC 7030 §4.5.2) for a certificate profile:
/// which key types and signature algorithms a CSR may use.
///
/// ```
/// CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
/// AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
/// Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE(1..MAX) OF AttributeValue }
/// ```
/// An EC key type is the attribute id-ecPublicKey with its named curve (the
/// RFC's own example); RSA is the OID rsaEncryption; each key type is followed
/// by the signature algorithm certctl expects with it.
public enum ESTCSRAttributes {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let sha256WithRSA: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 11]
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let secp256r1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    static let secp384r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]

    /// DER of the CsrAttrs for `keyAlgorithms` (in the profile's order, duplicates dropped);
    /// nil when there is nothing to say (the route then answers 204).
    public static func der(for keyAlgorithms: [KeyAlgorithm]) throws -> [UInt8]? {
        enum Item: Hashable { case oid(ASN1ObjectIdentifier), curve(ASN1ObjectIdentifier) }
        var items: [Item] = []
        func add(_ item: Item) { if !items.contains(item) { items.append(item) } }
        for algorithm in keyAlgorithms {
            switch algorithm {
            case .ecdsaP256: add(.curve(secp256r1)); add(.oid(ecdsaWithSHA256))
            case .ecdsaP384: add(.curve(secp384r1)); add(.oid(ecdsaWithSHA384))
            case .rsa2048, .rsa3072, .rsa4096: add(.oid(rsaEncryption)); add(.oid(sha256WithRSA))
            }
        }
        guard !items.isEmpty else { return nil }
        var coder = DER.Serializer()
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            for item in items {
                switch item {
                case .oid(let oid): try coder.serialize(oid)
                case .curve(let curve):
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(ecPublicKey)
                        try coder.appendConstructedNode(identifier: .set) { coder in try coder.serialize(curve) }
                    }
                }
            }
        }
        return coder.serializedBytes
    }
}
