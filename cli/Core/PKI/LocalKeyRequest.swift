import CertctlPKI
import Crypto
import Foundation
import SwiftASN1
import X509

/// A P-256 key made on this machine and a CSR for it, so the private key never leaves it.
struct LocalKeyRequest {
    let keyPEM: String
    let csrPEM: String

    /// `names` are subjectAltNames: "DNS:host", "IP:addr", "email:addr", "URI:uri", or a bare host name.
    init(commonName: String, names: [String]) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(commonName) }
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            let san = SubjectAlternativeNames(try names.map(Self.generalName))
            let extensions = try Certificate.Extensions([Certificate.Extension(san, critical: false)])
            attributes = CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))])
        }
        let csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key), attributes: attributes,
            signatureAlgorithm: .ecdsaWithSHA256)
        keyPEM = key.pemRepresentation + "\n"
        csrPEM = try csr.serializeAsPEM().pemString + "\n"
    }

    static func generalName(_ text: String) throws -> GeneralName {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return .dnsName(text) }
        switch parts[0].lowercased() {
        case "dns": return .dnsName(parts[1])
        case "email": return .rfc822Name(parts[1])
        case "uri": return .uniformResourceIdentifier(parts[1])
        case "ip":
            guard let bytes = IPAddressText.parse(parts[1]) else { throw CLIError.usage("--san \(text): not an IP address") }
            return .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        default:
            throw CLIError.usage("--san \(text): the type must be DNS, IP, email or URI")
        }
    }
}
