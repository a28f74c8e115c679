import CertctlPKI
import CertctlStore
import Foundation
import Synchronization
import SwiftASN1
import X509

/// The issuers and CA key generations this tier answers for, matched by the
/// CertID's issuerNameHash/issuerKeyHash. Loaded from issuer_generations and
/// reloaded periodically and when a request names an issuer it does not know
/// (at most every few seconds, so unknown-issuer floods do not hit Postgres).
final class IssuerDirectory: Sendable {
    struct Generation: Sendable {
        let issuerID: String
        let generation: Int
        let certificate: Certificate
        let hashes: [OCSPHashAlgorithm: (name: [UInt8], key: [UInt8])]
    }

    private struct State {
        var byIssuer: [String: [Generation]] = [:]
        var loadedAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let store: OCSPStore
    static let maximumAge: Duration = .seconds(60)
    /// An unknown issuer or an unmatched CertID reloads at most this often (a new
    /// issuer or generation is seen within it; a flood costs one small query per interval).
    static let minimumReloadInterval: Duration = .seconds(1)

    init(store: OCSPStore) {
        self.store = store
    }

    /// The issuer's generations (newest last); empty when the issuer is unknown.
    /// `missing`: the caller holds a CertID none of the known generations matches
    /// (a generation activated since the last load): reload like for an unknown issuer.
    func generations(_ issuerID: String, missing: Bool = false) async throws -> [Generation] {
        let (known, loadedAt) = state.withLock { ($0.byIssuer[issuerID], $0.loadedAt) }
        let age = loadedAt.map { $0.duration(to: .now) }
        if let known, let age, age < (missing ? Self.minimumReloadInterval : Self.maximumAge) { return known }
        if known == nil, let age, age < Self.minimumReloadInterval { return [] }
        do {
            try await reload()
        } catch where known != nil {
            return known ?? []  // Postgres down: keep answering from what we know
        }
        return state.withLock { $0.byIssuer[issuerID] } ?? []
    }

    /// Every issuer generation (freshly loaded).
    func allGenerations() async throws -> [Generation] {
        try await reload()
        return state.withLock { $0.byIssuer.values.flatMap { $0 } }
    }

    func reload() async throws {
        var byIssuer: [String: [Generation]] = [:]
        for row in try await store.issuerGenerations() {
            guard let certificate = try? Certificate(derEncoded: row.certificateDER) else { continue }
            byIssuer[row.issuerID, default: []].append(Generation(
                issuerID: row.issuerID, generation: row.generation, certificate: certificate,
                hashes: Self.hashes(row, certificate: certificate)))
        }
        state.withLock {
            $0.byIssuer = byIssuer
            $0.loadedAt = .now
        }
    }

    /// The generation whose name and key hashes the CertID carries.
    static func match(_ id: OCSPCertID, in generations: [Generation]) -> Generation? {
        generations.last { generation in
            guard let hashes = generation.hashes[id.hashAlgorithm] else { return false }
            return hashes.name == id.issuerNameHash && hashes.key == id.issuerKeyHash
        }
    }
}

extension IssuerDirectory {
    /// SHA-1 and SHA-256 CertID hashes as the signer recorded them; SHA-384 and
    /// SHA-512 computed here from the certificate (name DER, subjectPublicKey bits).
    static func hashes(_ row: OCSPIssuerGeneration, certificate: Certificate) -> [OCSPHashAlgorithm: (name: [UInt8], key: [UInt8])] {
        var result: [OCSPHashAlgorithm: (name: [UInt8], key: [UInt8])] = [
            .sha1: (row.nameHashSHA1, row.keyHashSHA1), .sha256: (row.nameHashSHA256, row.keyHashSHA256),
        ]
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate.subject)) != nil else { return result }
        let name = serializer.serializedBytes
        let key = Array(certificate.publicKey.subjectPublicKeyInfoBytes)
        for algorithm in [OCSPHashAlgorithm.sha384, .sha512] {
            result[algorithm] = (algorithm.hash(name), algorithm.hash(key))
        }
        return result
    }
}
