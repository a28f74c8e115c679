import Foundation
import SwiftASN1
import X509

/// Certificates out of PEM text (a file or the API's `certificate_pem` / `chain_pem`).
enum PEMCertificates {
    static func parse(_ text: String) throws -> [Certificate] {
        let documents = try PEMDocument.parseMultiple(pemString: text)
        return try documents.filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
    }

    static func read(_ path: String) throws -> [Certificate] {
        let bytes = try OutputFile.read(path)
        do {
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("-----BEGIN") { return try parse(text) }
            return [try Certificate(derEncoded: bytes)]
        } catch {
            throw CLIError.file(path, "is not a PEM or DER certificate (\(error))")
        }
    }

    /// Of `candidates`, the one whose key signed `certificate`.
    static func signer(of certificate: Certificate, among candidates: [Certificate]) -> Certificate? {
        candidates.first { $0.subject == certificate.issuer && $0.publicKey.isValidSignature(certificate.signature, for: certificate) }
    }
}
