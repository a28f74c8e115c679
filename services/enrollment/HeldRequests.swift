import CertctlIssuance
import X509

/// Shared by SCEP and EST for requests held for approval.
enum HeldRequests {
    /// The CSR's requested subjectAltNames as IssuanceService.describe writes them, for the operator's listing.
    static func requestedSANs(_ csr: CertificateSigningRequest) -> [String] {
        guard let request = try? csr.attributes.extensionRequest,
              let names = try? request.extensions.subjectAlternativeNames else { return [] }
        return names.map(IssuanceService.describe)
    }
}
