import CertctlConfig
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import Logging
import SwiftASN1
import X509

/// Every CA key this signer holds, by issuer and generation, and which
/// generation of each issuer signs new certificates.
struct IssuerKeyring: Sendable {
    static let defaultIssuerID = "iss-local"

    var keys: [String: [Int: LoadedCA]] = [:]
    var active: [String: Int] = [:]

    func activeCA(_ issuerID: String) -> (generation: Int, ca: LoadedCA)? {
        guard let generation = active[issuerID], let ca = keys[issuerID]?[generation] else { return nil }
        return (generation, ca)
    }

    /// The key for `generation` (0: the active one) and its generation number.
    func resolve(_ issuerID: String, generation: UInt32) -> (generation: Int, ca: LoadedCA)? {
        if generation == 0 { return activeCA(issuerID) }
        return keys[issuerID]?[Int(generation)].map { (Int(generation), $0) }
    }

    /// Registers the env-configured CA as `iss-local`'s active generation and
    /// loads the other key files named by issuer rows. A key file that no
    /// longer loads is skipped with an error line: the rest keep signing.
    static func assemble(defaultCA: LoadedCA, store: IssuerStore, logger: Logger) async throws -> IssuerKeyring {
        var ring = IssuerKeyring()
        let generation = try await store.registerActiveGeneration(
            facts(defaultCA, issuerID: defaultIssuerID, displayName: "certctl Local CA"))
        ring.keys[defaultIssuerID, default: [:]][generation] = defaultCA
        ring.active[defaultIssuerID] = generation
        logger.info("issuer ready", metadata: [
            "issuer_id": "\(defaultIssuerID)", "generation": "\(generation)", "certificate": "\(defaultCA.certificatePath)",
            "algorithm": "\(defaultCA.algorithm.rawValue)",
        ])
        for file in try await store.keyFiles() where ring.keys[file.issuerID]?[file.generation] == nil {
            do {
                let ca = try CAKeyLoader.load(certificatePath: file.certPath, keyPath: file.keyPath,
                                              certificateVariable: "issuer_generations.cert_path",
                                              keyVariable: "issuer_generations.key_path")
                ring.keys[file.issuerID, default: [:]][file.generation] = ca
                if file.active { ring.active[file.issuerID] = file.generation }
            } catch {
                logger.error("cannot load issuer key; that generation cannot sign", metadata: [
                    "issuer_id": "\(file.issuerID)", "generation": "\(file.generation)", "error": "\(error)",
                ])
            }
        }
        return ring
    }

    /// What the database records about a CA certificate (OCSP lookup hashes included).
    static func facts(_ ca: LoadedCA, issuerID: String, displayName: String) throws -> IssuerGenerationFacts {
        var serializer = DER.Serializer()
        try serializer.serialize(ca.certificate.subject)
        let subjectDER = serializer.serializedBytes
        let keyBits = try subjectPublicKeyBits(ca.certificate.publicKey)
        return IssuerGenerationFacts(
            issuerID: issuerID, displayName: displayName, certificateDER: ca.certificateDER, subjectDER: subjectDER,
            subjectKeyID: Array(try TBSCertificateBuilder.issuerKeyIdentifier(ca.certificate)),
            nameHashSHA1: Array(Insecure.SHA1.hash(data: subjectDER)), keyHashSHA1: Array(Insecure.SHA1.hash(data: keyBits)),
            nameHashSHA256: Array(SHA256.hash(data: subjectDER)), keyHashSHA256: Array(SHA256.hash(data: keyBits)),
            keyAlgorithm: ca.algorithm.rawValue, certPath: nil, keyPath: nil,
            notBefore: ca.certificate.notValidBefore, notAfter: ca.certificate.notValidAfter)
    }

    /// The subjectPublicKey BIT STRING's bytes (what OCSP's issuerKeyHash hashes).
    static func subjectPublicKeyBits(_ key: Certificate.PublicKey) throws -> [UInt8] {
        Array(key.subjectPublicKeyInfoBytes)
    }
}
