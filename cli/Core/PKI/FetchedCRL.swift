import CertctlPKI
import Foundation
import X509

/// A DER CertificateList as published, read without decoding its entries (a CRL may hold a million).
///
///     CertificateList  ::=  SEQUENCE  {
///          tbsCertList          TBSCertList,
///          signatureAlgorithm   AlgorithmIdentifier,
///          signatureValue       BIT STRING  }
struct FetchedCRL {
    let der: [UInt8]
    let fields: TBSCertListFields
    let tbsRange: Range<Int>
    let signatureAlgorithmDER: [UInt8]
    let signature: [UInt8]

    init(der: [UInt8]) throws {
        self.der = der
        do {
            var outer = DERReader(der)
            let list = try outer.next(DERWriter.sequence, "CertificateList")
            var reader = outer.inside(list)
            let tbs = try reader.next(DERWriter.sequence, "tbsCertList")
            tbsRange = tbs.range
            signatureAlgorithmDER = Array(der[try reader.next(DERWriter.sequence, "signatureAlgorithm").range])
            let bits = try reader.next(DERWriter.bitString, "signatureValue")
            // the first content octet counts unused bits (0 for signatures)
            signature = Array(der[bits.content].dropFirst())
            fields = try TBSCertListFields(der, range: tbs.range)
        } catch {
            throw CLIError(.verificationFailed, "invalid_crl", "the CRL is not a DER CertificateList: \(error)")
        }
    }

    /// The CRL Number in decimal.
    var number: String { fields.crlNumber.map(TBSCertListSummary.decimal) ?? "-" }

    func isSigned(by issuer: Certificate) -> Bool {
        guard let algorithm = SignatureAlgorithmIdentifier.algorithm(fromDER: signatureAlgorithmDER) else { return false }
        return issuer.publicKey.isValidSignature(signature, for: der[tbsRange], signatureAlgorithm: algorithm)
    }
}
