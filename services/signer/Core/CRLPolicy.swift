import CertctlPKI
import CertctlStore
import Foundation
import X509

/// Bounds the signer puts on every CRL it signs.
package struct CRLRules: Sendable {
    /// nextUpdate may be at most this long after thisUpdate (CERTCTL_SIGNER_CRL_MAX_VALIDITY).
    package var maxValidity: Duration
    /// thisUpdate may be at most this far from the signer's clock.
    package var thisUpdateSkew: Duration = .seconds(300)
    /// A CRL number may exceed the last one signed by at most this much.
    package var maxNumberStep = 100
    /// A CRL may leave out revocation changes younger than this (they were
    /// not committed yet when it was read); an older one it leaves out is refused.
    package var staleAfter: Duration = .seconds(300)

    package init(maxValidity: Duration) {
        self.maxValidity = maxValidity
    }
}

/// What the signer checks before it signs a TBSCertList. Pure: the caller
/// reads the revocation log (`ExpectedCRL`) first.
package enum CRLPolicy {
    /// The header: algorithm, issuer name and key id, CRL number, times.
    /// Returns the CRL number's decimal text. `final`: the generation is
    /// archived (none of its certificates is unexpired), so its last CRL may
    /// stay valid until the CA certificate expires, and no longer.
    package static func checkHeader(
        _ fields: TBSCertListFields, ca: LoadedCA, rules: CRLRules, now: Date, final: Bool = false
    ) throws(SigningRefusal) -> String {
        let expectedAlgorithm = try? SignatureAlgorithmIdentifier.der(ca.algorithm.signatureAlgorithm)
        guard fields.signatureAlgorithmDER == expectedAlgorithm else {
            throw .signatureAlgorithm("CRL signature algorithm is not the issuer's \(ca.algorithm.signatureAlgorithm)")
        }
        guard (try? ReservationFields.subjectDER(ca.certificate.subject)) == fields.issuerNameDER else {
            throw .issuerMismatch("CRL issuer is not the CA's subject \(ca.certificate.subject)")
        }
        guard let keyID = fields.authorityKeyIdentifier,
              keyID == (try? TBSCertificateBuilder.issuerKeyIdentifier(ca.certificate)).map(Array.init) else {
            throw .issuerMismatch("CRL authorityKeyIdentifier is missing or is not the CA's key identifier")
        }
        guard let number = fields.crlNumber, number.first.map({ $0 & 0x80 == 0 }) == true, number.count <= 20 else {
            throw .crlNumber("the CRL must carry a non-negative CRL Number of at most 20 octets")
        }
        let skew = rules.thisUpdateSkew.seconds
        guard abs(fields.thisUpdate.timeIntervalSince(now)) <= skew else {
            throw .crlTime("thisUpdate \(fields.thisUpdate) is more than \(Int(skew)) s from the signer's clock (\(now))")
        }
        guard let nextUpdate = fields.nextUpdate, nextUpdate > fields.thisUpdate else {
            throw .crlTime("the CRL must carry a nextUpdate after its thisUpdate")
        }
        if final {
            guard nextUpdate <= ca.certificate.notValidAfter else {
                throw .crlTime("the final CRL's nextUpdate \(nextUpdate) is after the CA certificate's notAfter \(ca.certificate.notValidAfter)")
            }
        } else {
            guard nextUpdate.timeIntervalSince(fields.thisUpdate) <= rules.maxValidity.seconds else {
                throw .crlTime("nextUpdate \(nextUpdate) is more than \(Int(rules.maxValidity.seconds)) s after thisUpdate")
            }
        }
        return TBSCertListSummary.decimal(number)
    }

    /// The entries are exactly what the revocation log says up to the CRL's cut,
    /// and the cut leaves out no change older than `rules.staleAfter`.
    package static func checkContents(
        _ entries: CRLEntryDigest, expected: ExpectedCRL, cut: Int64, rules: CRLRules
    ) throws(SigningRefusal) {
        guard !expected.cutBeyondLog else {
            throw .crlContents("covered_change_seq \(cut) is beyond the revocation log")
        }
        guard expected.staleChanges == 0 else {
            throw .crlContents("the CRL (revocation log read up to change \(cut)) leaves out \(expected.staleChanges) revocation change(s) older than \(Int(rules.staleAfter.seconds)) s")
        }
        guard entries == expected.entries else {
            throw .crlContents("the CRL lists \(entries.count) entries; the revocation log up to change \(cut) holds \(expected.entries.count)\(entries.count == expected.entries.count ? " with other serials, dates or reasons" : "")")
        }
    }
}
