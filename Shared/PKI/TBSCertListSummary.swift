import SwiftASN1
import X509

/// The parts of a DER TBSCertList the signer checks before signing a CRL.
/// Built on `TBSCertListFields`, which walks entries without decoding them,
/// so a million-entry CRL costs no ASN.1 node tree.
public struct TBSCertListSummary: Sendable {
    public let signatureAlgorithmDER: [UInt8]
    public let issuer: DistinguishedName
    /// CRL Number extension value (DER INTEGER content octets), if present.
    public let crlNumber: [UInt8]?

    public static let crlNumberOID = TBSCertListFields.crlNumberOID

    public init(derEncoded bytes: [UInt8]) throws {
        let fields = try TBSCertListFields(bytes)
        signatureAlgorithmDER = fields.signatureAlgorithmDER
        issuer = try DistinguishedName(derEncoded: fields.issuerNameDER)
        crlNumber = fields.crlNumber
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

extension TBSCertListSummary {
    /// Total length (header included) of the DER SEQUENCE that `prefix` starts, read
    /// from its first bytes; nil when they are not a SEQUENCE header. Only a size hint
    /// for a receiver collecting pieces: the full parse checks everything.
    public static func encodedLength(prefix: [UInt8]) -> Int? {
        guard prefix.count >= 2, prefix[0] == 0x30 else { return nil }
        let first = Int(prefix[1])
        if first < 0x80 { return 2 + first }
        let octets = first & 0x7f
        guard (1...4).contains(octets), prefix.count >= 2 + octets else { return nil }
        var length = 0
        for index in 0..<octets { length = length << 8 | Int(prefix[2 + index]) }
        return 2 + octets + length
    }
}
