import ArgumentParser
import CertctlPKI
import CertctlSignerCore
import Foundation
import X509

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
        let certificate = try CAKeyFiles.selfSignedCA(key: key, algorithm: algorithm, subject: name, days: days)
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
        let csr = try CAKeyFiles.subCACSR(key: key, algorithm: algorithm, subject: name)
        try CAKeyFiles.writePrivate(pem + "\n", to: keyPath)
        try CAKeyFiles.writePublic(try csr.serializeAsPEM().pemString + "\n", to: csrPath)
        print("created sub-CA key \(keyPath) (mode 0600) and CSR \(csrPath) for \(name)")
    }
}
