import CertctlIssuance
import CertctlPKI
import X509

/// Shared by SCEP and EST for requests held for approval.
enum HeldRequests {
    /// The CSR's requested subjectAltNames as GeneralNameText.describe writes them, for the operator's listing.
    static func requestedSANs(_ csr: CertificateSigningRequest) -> [String] {
        guard let request = try? csr.attributes.extensionRequest,
              let names = try? request.extensions.subjectAlternativeNames else { return [] }
        return names.map(GeneralNameText.describe)
    }

    /// Whether two CSRs ask for the same certificate: same key, subject and subjectAltNames. Other
    /// attributes may change between submissions of one request (certmonger puts a fresh
    /// subjectKeyIdentifier in each CSR it generates; issuance computes its own).
    static func sameCertificate(_ a: CertificateSigningRequest, _ b: CertificateSigningRequest) -> Bool {
        a.publicKey == b.publicKey && a.subject == b.subject && Set(requestedSANs(a)) == Set(requestedSANs(b))
    }
}
