import ArgumentParser
import CertctlPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Key generation and writing for `init-ca` and `csr`.
enum CAKeyFiles {
    static func generate(_ algorithm: KeyAlgorithm) throws -> (key: Certificate.PrivateKey, pem: String) {
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

    /// Writes a secret file with mode 0600 from the start; never overwrites.
    static func writePrivate(_ text: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) already exists; not overwriting it") }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw ValidationError("cannot write \(path)") }
    }

    static func writePublic(_ text: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) already exists; not overwriting it") }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

extension KeyAlgorithm: ExpressibleByArgument {}

/// `certctl-signer init-ca`: a self-signed root CA, key written mode 0600.
struct InitCA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-ca", abstract: "Create a self-signed CA certificate and its private key (mode 0600).")

    @Option(help: "Key algorithm: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.")
    var algorithm: KeyAlgorithm = .ecdsaP256
    @Option(help: "Subject, e.g. \"/O=Example/CN=Example Root CA\" or \"CN=Example Root CA,O=Example\".")
    var subject: String = "/O=certctl/CN=certctl Local CA"
    @Option(help: "Validity in days.")
    var days: Int = 3650
    @Option(name: .customLong("cert-out"), help: "Where to write the PEM certificate.")
    var certificatePath: String
    @Option(name: .customLong("key-out"), help: "Where to write the PEM private key (created with mode 0600).")
    var keyPath: String

    func run() async throws {
        guard (1...36500).contains(days) else { throw ValidationError("--days must be between 1 and 36500") }
        let name = try SubjectName.parse(subject)
        let (key, pem) = try CAKeyFiles.generate(algorithm)
        let now = Date()
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true), critical: true))
        try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: key.publicKey), critical: false))
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: SerialNumber.random()),
            publicKey: key.publicKey, notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(days) * 86_400), issuer: name, subject: name,
            signatureAlgorithm: algorithm.signatureAlgorithm, extensions: extensions, issuerPrivateKey: key)
        try CAKeyFiles.writePrivate(pem + "\n", to: keyPath)
        try CAKeyFiles.writePublic(try certificate.serializeAsPEM().pemString + "\n", to: certificatePath)
        print("created CA \(name) (\(algorithm.rawValue), \(days) days): certificate \(certificatePath), key \(keyPath) (mode 0600)")
    }
}

/// `certctl-signer csr`: a key and CSR for a sub-CA that an enterprise root signs.
struct SubCACSR: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csr",
        abstract: "Create a CA key (mode 0600) and a CSR for an enterprise root to sign as a sub-CA.",
        discussion: "Install the signed certificate at CERTCTL_CA_CERT_PATH and the key at CERTCTL_CA_KEY_PATH.")

    @Option(help: "Key algorithm: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.")
    var algorithm: KeyAlgorithm = .ecdsaP256
    @Option(help: "Subject of the sub-CA.")
    var subject: String
    @Option(name: .customLong("key-out"), help: "Where to write the PEM private key (mode 0600).")
    var keyPath: String
    @Option(name: .customLong("csr-out"), help: "Where to write the PEM CSR.")
    var csrPath: String

    func run() async throws {
        let name = try SubjectName.parse(subject)
        let (key, pem) = try CAKeyFiles.generate(algorithm)
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: 0), critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true), critical: true))
        let csr = try CertificateSigningRequest(
            version: .v1, subject: name, privateKey: key,
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: algorithm.signatureAlgorithm)
        try CAKeyFiles.writePrivate(pem + "\n", to: keyPath)
        try CAKeyFiles.writePublic(try csr.serializeAsPEM().pemString + "\n", to: csrPath)
        print("created sub-CA key \(keyPath) (mode 0600) and CSR \(csrPath) for \(name)")
    }
}
