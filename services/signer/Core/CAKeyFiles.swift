import CertctlPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Why a CA key or certificate file could not be created.
package struct CAKeyFileError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// Key generation, the self-signed root and the sub-CA CSR for `init-ca` and `csr`.
package enum CAKeyFiles {
    package static func generate(_ algorithm: KeyAlgorithm) throws -> (key: Certificate.PrivateKey, pem: String) {
        switch algorithm {
        case .ecdsaP256:
            let key = P256.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), key.pemRepresentation)
        case .ecdsaP384:
            let key = P384.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), key.pemRepresentation)
        case .rsa2048, .rsa3072, .rsa4096:
            let size: _RSA.Signing.KeySize = algorithm == .rsa2048 ? .bits2048 : algorithm == .rsa3072 ? .bits3072 : .bits4096
            let key = try _RSA.Signing.PrivateKey(keySize: size)
            return (Certificate.PrivateKey(key), key.pemRepresentation)
        }
    }

    /// A self-signed root: CA:TRUE (critical), keyCertSign + cRLSign, valid from 5 minutes ago for `days`.
    package static func selfSignedCA(key: Certificate.PrivateKey, algorithm: KeyAlgorithm, subject: DistinguishedName,
                                     days: Int, now: Date = Date()) throws -> Certificate {
        try selfSignedCA(key: key, algorithm: algorithm, subject: subject, validity: Double(days) * 86_400, now: now)
    }

    /// The same, valid from 5 minutes ago for `validity` seconds.
    package static func selfSignedCA(key: Certificate.PrivateKey, algorithm: KeyAlgorithm, subject: DistinguishedName,
                                     validity: TimeInterval, now: Date = Date()) throws -> Certificate {
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true), critical: true))
        try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: key.publicKey), critical: false))
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: SerialNumber.random()),
            publicKey: key.publicKey, notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validity), issuer: subject, subject: subject,
            signatureAlgorithm: algorithm.signatureAlgorithm, extensions: extensions, issuerPrivateKey: key)
    }

    /// A CSR for a sub-CA: it requests CA:TRUE pathlen:0 and keyCertSign + cRLSign.
    package static func subCACSR(key: Certificate.PrivateKey, algorithm: KeyAlgorithm, subject: DistinguishedName) throws
        -> CertificateSigningRequest
    {
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: 0), critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true), critical: true))
        return try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key,
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: algorithm.signatureAlgorithm)
    }

    /// Writes a secret file with mode 0600 from the start; never overwrites.
    package static func writePrivate(_ text: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw CAKeyFileError("\(path) already exists; not overwriting it") }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CAKeyFileError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw CAKeyFileError("cannot write \(path)") }
    }

    package static func writePublic(_ text: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw CAKeyFileError("\(path) already exists; not overwriting it") }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
