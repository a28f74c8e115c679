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
