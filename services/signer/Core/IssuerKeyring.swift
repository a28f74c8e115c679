import CertctlConfig
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import Logging
import Synchronization
import SwiftASN1
import X509

/// Every CA key this signer holds, by issuer and generation, each
/// generation's state, and which generation of each issuer signs new
/// certificates. Rotation adds generations and moves them between states
/// while the signer serves, so the ring is shared and locked.
final class IssuerKeyring: Sendable {
    static let defaultIssuerID = "iss-local"

    struct State {
        var keys: [String: [Int: LoadedCA]] = [:]
        var status: [String: [Int: GenerationStatus]] = [:]
        var active: [String: Int] = [:]
    }

    private let state = Mutex(State())

    init() {}

    func activeCA(_ issuerID: String) -> (generation: Int, ca: LoadedCA)? {
        state.withLock { state in
            guard let generation = state.active[issuerID], let ca = state.keys[issuerID]?[generation] else { return nil }
            return (generation, ca)
        }
    }

    /// The key for `generation` (0: the active one) and its generation number.
    func resolve(_ issuerID: String, generation: UInt32) -> (generation: Int, ca: LoadedCA)? {
        if generation == 0 { return activeCA(issuerID) }
        return state.withLock { $0.keys[issuerID]?[Int(generation)].map { (Int(generation), $0) } }
    }

    /// The issuer's pending generation, if a rotation is under way.
    func pendingGeneration(_ issuerID: String) -> Int? {
        state.withLock { $0.status[issuerID]?.first { $0.value == .pending }?.key }
    }

    /// The key file of every generation of the issuer held here, by generation.
    func keyPaths(_ issuerID: String) -> [(generation: Int, path: String)] {
        state.withLock { ($0.keys[issuerID] ?? [:]).map { ($0.key, $0.value.keyPath) }.sorted { $0.0 < $1.0 } }
    }

    func status(_ issuerID: String, generation: Int) -> GenerationStatus? {
        state.withLock { $0.status[issuerID]?[generation] }
    }

    func key(_ issuerID: String, generation: Int) -> LoadedCA? {
        state.withLock { $0.keys[issuerID]?[generation] }
    }

    func add(_ ca: LoadedCA?, issuerID: String, generation: Int, status: GenerationStatus) {
        state.withLock { state in
            if let ca { state.keys[issuerID, default: [:]][generation] = ca }
            state.status[issuerID, default: [:]][generation] = status
            if status == .active { state.active[issuerID] = generation }
        }
    }

    /// Applies state changes the store made (activation, retirement, archive).
    func apply(_ transitions: [GenerationTransition]) {
        state.withLock { state in
            for change in transitions {
                state.status[change.issuerID, default: [:]][change.generation] = change.status
                if change.status == .active { state.active[change.issuerID] = change.generation }
            }
        }
    }

    /// Registers the env-configured CA for `iss-local` and loads the key files
    /// every other generation names. The env CA becomes the active generation
    /// only when the issuer has none, or when it is a certificate the database
    /// has never seen (a file-swap rotation); a rotation made through the
    /// signer is not undone by a restart. A key file that no longer loads is
    /// skipped with an error line: the rest keep signing.
    static func assemble(defaultCA: LoadedCA, store: IssuerStore, logger: Logger) async throws -> IssuerKeyring {
        let ring = IssuerKeyring()
        let registered = try await store.registerEnvironmentGeneration(
            facts(defaultCA, issuerID: defaultIssuerID, displayName: "certctl Local CA"))
        let envStatus = GenerationStatus(rawValue: registered.status) ?? .retired
        ring.add(defaultCA, issuerID: defaultIssuerID, generation: registered.generation, status: envStatus)
        logger.info("issuer ready", metadata: [
            "issuer_id": "\(defaultIssuerID)", "generation": "\(registered.generation)", "status": "\(envStatus.rawValue)",
            "certificate": "\(defaultCA.certificatePath)", "algorithm": "\(defaultCA.algorithm.rawValue)",
        ])
        for file in try await store.keyFiles() where ring.key(file.issuerID, generation: file.generation) == nil {
            let status = GenerationStatus(rawValue: file.status) ?? .archived
            guard let certPath = file.certPath else {
                ring.add(nil, issuerID: file.issuerID, generation: file.generation, status: status)  // sub-CA awaiting its certificate
                continue
            }
            do {
                let ca = try CAKeyLoader.load(certificatePath: certPath, keyPath: file.keyPath,
                                              certificateVariable: "issuer_generations.cert_path",
                                              keyVariable: "issuer_generations.key_path", allowExpired: status == .archived)
                ring.add(ca, issuerID: file.issuerID, generation: file.generation, status: status)
            } catch {
                ring.add(nil, issuerID: file.issuerID, generation: file.generation, status: status)
                logger.error("cannot load issuer key; that generation cannot sign", metadata: [
                    "issuer_id": "\(file.issuerID)", "generation": "\(file.generation)", "error": "\(error)",
                ])
            }
        }
        return ring
    }

    /// What the database records about a CA certificate (OCSP lookup hashes included).
    static func facts(_ ca: LoadedCA, issuerID: String, displayName: String) throws -> IssuerGenerationFacts {
        try facts(certificate: ca.certificate, der: ca.certificateDER, algorithm: ca.algorithm, issuerID: issuerID,
                  displayName: displayName)
    }

    static func facts(certificate: Certificate, der: [UInt8], algorithm: KeyAlgorithm, issuerID: String, displayName: String,
                      certPath: String? = nil, keyPath: String? = nil) throws -> IssuerGenerationFacts {
        var facts = try keyFacts(subject: certificate.subject, publicKey: certificate.publicKey, algorithm: algorithm,
                                 issuerID: issuerID, displayName: displayName, certPath: certPath, keyPath: keyPath)
        facts.certificateDER = der
        facts.subjectKeyID = Array(try TBSCertificateBuilder.issuerKeyIdentifier(certificate))
        facts.notBefore = certificate.notValidBefore
        facts.notAfter = certificate.notValidAfter
        return facts
    }

    /// The facts a key and its subject determine (a sub-CA generation has them before its certificate).
    static func keyFacts(subject: DistinguishedName, publicKey: Certificate.PublicKey, algorithm: KeyAlgorithm, issuerID: String,
                         displayName: String, certPath: String?, keyPath: String?) throws -> IssuerGenerationFacts {
        var serializer = DER.Serializer()
        try serializer.serialize(subject)
        let subjectDER = serializer.serializedBytes
        let keyBits = try subjectPublicKeyBits(publicKey)
        return IssuerGenerationFacts(
            issuerID: issuerID, displayName: displayName, certificateDER: [], subjectDER: subjectDER,
            subjectKeyID: Array(SubjectKeyIdentifier(hash: publicKey).keyIdentifier),
            nameHashSHA1: Array(Insecure.SHA1.hash(data: subjectDER)), keyHashSHA1: Array(Insecure.SHA1.hash(data: keyBits)),
            nameHashSHA256: Array(SHA256.hash(data: subjectDER)), keyHashSHA256: Array(SHA256.hash(data: keyBits)),
            keyAlgorithm: algorithm.rawValue, certPath: certPath, keyPath: keyPath,
            notBefore: Date(timeIntervalSince1970: 0), notAfter: Date(timeIntervalSince1970: 0))
    }

    /// The subjectPublicKey BIT STRING's bytes (what OCSP's issuerKeyHash hashes).
    static func subjectPublicKeyBits(_ key: Certificate.PublicKey) throws -> [UInt8] {
        Array(key.subjectPublicKeyInfoBytes)
    }
}
