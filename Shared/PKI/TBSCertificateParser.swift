import SwiftASN1
import X509

/// Reads a DER TBSCertificate with swift-certificates' parser.
///
/// `TBSCertificate` is internal to swift-certificates, but `Certificate` is
/// public: wrapping the TBS as `SEQUENCE { tbs, its own signature
/// AlgorithmIdentifier, placeholder BIT STRING }` gives a certificate whose
/// parsed fields are exactly the TBS's. Pure function of its input.
public enum TBSCertificateParser {
    public struct Parsed: Sendable {
        public let certificate: Certificate
        /// DER of the TBS's `signature` AlgorithmIdentifier, reused verbatim
        /// as the outer `signatureAlgorithm` (they must be equal).
        public let signatureAlgorithmDER: [UInt8]
    }

    public static func parse(_ tbs: [UInt8]) throws -> Parsed {
        let root: ASN1Node
        do {
            root = try DER.parse(tbs)
        } catch {
            throw PKIError.malformedTBS("not DER: \(error)")
        }
        guard root.identifier == .sequence, case .constructed(let children) = root.content,
              root.encodedBytes.count == tbs.count
        else { throw PKIError.malformedTBS("not a single SEQUENCE") }
        var iterator = children.makeIterator()
        var node = iterator.next()
        if node?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { node = iterator.next() }  // version
        guard node?.identifier == .integer else { throw PKIError.malformedTBS("serialNumber missing") }
        guard let signature = iterator.next(), signature.identifier == .sequence else {
            throw PKIError.malformedTBS("signature AlgorithmIdentifier missing")
        }
        let algorithm = Array(signature.encodedBytes)
        // ECDSA-Sig-Value { r 1, s 1 }: parseable for every algorithm certctl signs with.
        let wrapped = CertificateAssembler.assemble(
            tbs: tbs, signatureAlgorithmDER: algorithm, signature: [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01])
        do {
            return Parsed(certificate: try Certificate(derEncoded: wrapped), signatureAlgorithmDER: algorithm)
        } catch {
            throw PKIError.malformedTBS("\(error)")
        }
    }
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`
/// from already-encoded parts; the TBS bytes are copied verbatim (never re-encoded).
public enum CertificateAssembler {
    public static func assemble(tbs: [UInt8], signatureAlgorithmDER: [UInt8], signature: [UInt8]) -> [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.appendConstructedNode(identifier: .sequence) { body in
            body.serializeRawBytes(tbs)
            body.serializeRawBytes(signatureAlgorithmDER)
            try body.serialize(ASN1BitString(bytes: signature[...]))
        }
        return serializer.serializedBytes
    }
}
