import SwiftASN1
import X509

public enum PEM {
    public static func certificate(_ der: [UInt8]) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n"
    }

    public static func crl(_ der: [UInt8]) -> String {
        PEMDocument(type: "X509 CRL", derBytes: der).pemString + "\n"
    }

    /// Parses one PEM or (as a fallback) DER certificate signing request.
    public static func csr(_ text: String) throws -> CertificateSigningRequest {
        try CertificateSigningRequest(pemEncoded: text)
    }
}
