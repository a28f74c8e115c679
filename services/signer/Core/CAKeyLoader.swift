import CertctlConfig
import CertctlPKI
import Foundation
import SwiftASN1
import X509

/// A CA certificate and its private key, loaded and checked. This file is the
/// only place in certctl that reads a CA private key, and only
/// certctl-signer links it.
package struct LoadedCA: Sendable {
    package let certificate: Certificate
    package let certificateDER: [UInt8]
    package let privateKey: Certificate.PrivateKey
    package let algorithm: KeyAlgorithm
    package let certificatePath: String
    package let keyPath: String

    package init(certificate: Certificate, certificateDER: [UInt8], privateKey: Certificate.PrivateKey, algorithm: KeyAlgorithm,
                 certificatePath: String, keyPath: String) {
        self.certificate = certificate
        self.certificateDER = certificateDER
        self.privateKey = privateKey
        self.algorithm = algorithm
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

package enum CAKeyLoader {
    /// Loads `certificatePath` and `keyPath`; refuses (naming the file) a key
    /// readable by group/others, a key that does not match the certificate,
    /// an expired or not-yet-valid CA, a certificate that is not a CA, or an
    /// unsupported algorithm. `variable` names the setting for the message.
    package static func load(
        certificatePath: String, keyPath: String,
        certificateVariable: String = Catalog.caCertPath.name, keyVariable: String = Catalog.caKeyPath.name,
        allowExpired: Bool = false, now: Date = Date()
    ) throws(ConfigError) -> LoadedCA {
        try PrivateFile.checkReadable(certificatePath, variable: certificateVariable)
        try PrivateFile.checkOwnerOnly(keyPath, variable: keyVariable)
        let certificate: Certificate
        let der: [UInt8]
        do {
            let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
            certificate = try Certificate(pemEncoded: pem)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            der = serializer.serializedBytes
        } catch {
            throw ConfigError(variable: certificateVariable, value: certificatePath, expected: "a PEM X.509 certificate (\(error))")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: keyPath, encoding: .utf8))
        } catch {
            throw ConfigError(variable: keyVariable, value: keyPath,
                              expected: "an unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1) (\(error))")
        }
        guard key.publicKey == certificate.publicKey else {
            throw ConfigError(variable: keyVariable, value: keyPath,
                              expected: "the private key of the certificate in \(certificatePath) (this key does not match it)")
        }
        guard let algorithm = KeyAlgorithm(certificate.publicKey) else {
            throw ConfigError(variable: keyVariable, value: keyPath,
                              expected: "an ECDSA P-256/P-384 or RSA 2048/3072/4096 key (found \(KeyAlgorithm.describeUnsupported(certificate.publicKey)))")
        }
        guard allowExpired || certificate.notValidAfter > now else {
            throw ConfigError(variable: certificateVariable, value: certificatePath,
                              expected: "a CA certificate that has not expired (notAfter \(certificate.notValidAfter))")
        }
        guard certificate.notValidBefore <= now.addingTimeInterval(300) else {
            throw ConfigError(variable: certificateVariable, value: certificatePath,
                              expected: "a CA certificate that is already valid (notBefore \(certificate.notValidBefore))")
        }
        guard case .isCertificateAuthority = (try? certificate.extensions.basicConstraints) ?? .notCertificateAuthority else {
            throw ConfigError(variable: certificateVariable, value: certificatePath,
                              expected: "a CA certificate (basicConstraints CA:TRUE)")
        }
        return LoadedCA(certificate: certificate, certificateDER: der, privateKey: key, algorithm: algorithm,
                        certificatePath: certificatePath, keyPath: keyPath)
    }
}
