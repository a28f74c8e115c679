import CertctlConfig
import CertctlIssuance
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import X509

/// The challenge policies of a SCEP profile: a connector-signed token
/// (docs/scep-intune.md), the static secret, or a one-time challenge.
extension SCEPResponder {
    /// A signed token ("v1:…") when the profile has a connector bundle; else the static challenge
    /// (constant-time over SHA-256 digests), else a one-time challenge consumed atomically.
    func checkChallenge(_ password: String?, csr: CertificateSigningRequest, endpoint: SCEPEndpointRecord,
                        transactionID: String) async throws {
        guard let password, !password.isEmpty else {
            throw SCEPError("scep_challenge_missing", .badRequest, "the CSR carries no challengePassword")
        }
        if let anchor = endpoint.signedChallengeTrustAnchor, SCEPSignedChallenge.isSignedToken(password) {
            return try await checkSignedChallenge(password, csr: csr, endpoint: endpoint, anchor: anchor, transactionID: transactionID)
        }
        let digest = Array(SHA256.hash(data: Data(password.utf8)))
        if let expected = endpoint.staticChallengeSHA256, ConstantTime.equal(expected, digest) { return }
        guard endpoint.allowOneTimeChallenges else {
            throw SCEPError("scep_challenge_invalid", .badRequest, "the challenge password is wrong")
        }
        switch try await store.consumeChallenge(profile: endpoint.name, secretSHA256: digest, transactionID: transactionID) {
        case .consumed(let expectedSubject, let expectedSANs):
            if let expectedSubject, expectedSubject != csr.subject.description {
                throw SCEPError("scep_challenge_subject_mismatch", .badRequest,
                                "this challenge is bound to subject \(expectedSubject), the CSR has \(csr.subject)")
            }
            if let expectedSANs {
                let requested = csr.subjectAlternativeNameTexts
                guard requested == Set(expectedSANs) else {
                    throw SCEPError("scep_challenge_san_mismatch", .badRequest,
                                    "this challenge is bound to subjectAltNames \(expectedSANs.sorted()), the CSR has \(requested.sorted())")
                }
            }
        case .alreadyUsed: throw SCEPError("scep_challenge_reused", .badRequest, "this one-time challenge was already used")
        case .expired: throw SCEPError("scep_challenge_expired", .badRequest, "this one-time challenge has expired")
        case .unknown: throw SCEPError("scep_challenge_invalid", .badRequest, "the challenge password is wrong")
        }
    }

    /// The Intune-style model: a connector's signature, this profile as audience, the validity window,
    /// an optional commonName binding, and the token id used once across replicas (Postgres).
    private func checkSignedChallenge(_ token: String, csr: CertificateSigningRequest, endpoint: SCEPEndpointRecord,
                                      anchor: String, transactionID: String) async throws {
        let challenge = try SCEPSignedChallenge.parse(token)
        // One snapshot of the bundle for the whole check: a reload in between does not change the answer.
        guard let pool = trustAnchors.pool(anchor) else {
            throw SCEPError("scep_signed_challenge_no_trust_bundle", .badRequest,
                            "trust bundle \(anchor) of this profile is not loaded on this replica")
        }
        let now = Date()
        guard let connector = challenge.signer(among: pool.certificates, now: now) else {
            throw SCEPError("scep_signed_challenge_bad_signature", .badMessageCheck,
                            "the challenge is not signed by a valid connector certificate of trust bundle \(anchor)")
        }
        try challenge.check(audience: endpoint.name, now: now)
        if let expected = challenge.commonName {
            let names = csr.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { "\($0.value)" }
            guard names == [expected] else {
                throw SCEPError("scep_signed_challenge_subject_mismatch", .badRequest,
                                "the challenge is bound to commonName \(expected), the CSR has \(names)")
            }
        }
        let connectorID = Hex.string(SHA256.hash(data: connector.publicKey.subjectPublicKeyInfoBytes))
        guard try await store.useSignedChallenge(profile: endpoint.name, id: challenge.id, connectorSHA256: connectorID,
                                                 expiresAt: challenge.notAfter, transactionID: transactionID) else {
            throw SCEPError("scep_signed_challenge_reused", .badRequest, "signed challenge \(challenge.id) was already used")
        }
    }
}
