import SwiftASN1
import X509

/// The parts of a DER TBSCertList the signer checks before signing a CRL.
///
///     TBSCertList  ::=  SEQUENCE  {
///          version                 Version OPTIONAL, -- if present, MUST be v2
///          signature               AlgorithmIdentifier,
///          issuer                  Name,
///          thisUpdate              Time,
///          nextUpdate              Time OPTIONAL,
///          revokedCertificates     SEQUENCE OF SEQUENCE { ... } OPTIONAL,
///          crlExtensions           [0]  EXPLICIT Extensions OPTIONAL }
public struct TBSCertListSummary: Sendable {
    public let signatureAlgorithmDER: [UInt8]
    public let issuer: DistinguishedName
    /// CRL Number extension value (DER INTEGER content octets), if present.
    public let crlNumber: [UInt8]?

    public static let crlNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]

    public init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        guard root.identifier == .sequence, case .constructed(let children) = root.content,
              root.encodedBytes.count == bytes.count
        else { throw PKIError.malformedTBS("TBSCertList is not a single SEQUENCE") }
        var nodes = Array(children)
        if let first = nodes.first, first.identifier == .integer {
            guard try Int(derEncoded: first) == 1 else { throw PKIError.malformedTBS("CRL version must be v2") }
            nodes.removeFirst()
        }
        guard nodes.count >= 3, nodes[0].identifier == .sequence else {
            throw PKIError.malformedTBS("TBSCertList lacks signature, issuer or thisUpdate")
        }
        signatureAlgorithmDER = Array(nodes[0].encodedBytes)
        issuer = try DistinguishedName(derEncoded: nodes[1])
        var number: [UInt8]?
        if let extensionsNode = nodes.last, extensionsNode.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific),
           case .constructed(let wrapped) = extensionsNode.content, let sequence = Array(wrapped).first,
           case .constructed(let extensionNodes) = sequence.content {
            for node in extensionNodes {
                let ext = try Certificate.Extension(derEncoded: node)
                guard ext.oid == Self.crlNumberOID else { continue }
                let integer = try DER.parse(ext.value)
                guard integer.identifier == ASN1Identifier.integer, case .primitive(let content) = integer.content else {
                    throw PKIError.malformedTBS("CRL Number is not an INTEGER")
                }
                number = Array(content)
            }
        }
        crlNumber = number
    }

    /// Decimal text of a non-negative DER INTEGER (for numeric SQL columns).
    public static func decimal(_ bytes: [UInt8]) -> String {
        var digits: [UInt8] = []
        var number = Array(bytes.drop { $0 == 0 })
        while !number.isEmpty {
            var remainder = 0
            var quotient: [UInt8] = []
            for byte in number {
                let value = remainder * 256 + Int(byte)
                let q = value / 10
                remainder = value % 10
                if !(quotient.isEmpty && q == 0) { quotient.append(UInt8(q)) }
            }
            digits.append(UInt8(remainder))
            number = quotient
        }
        return digits.isEmpty ? "0" : String(digits.reversed().map { Character(String($0)) })
    }
}
