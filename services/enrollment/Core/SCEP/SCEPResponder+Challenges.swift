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
    /// A challenge this request used up, to give back if the signer cannot be reached (`giveBack`).
    enum ConsumedChallenge {
        case oneTime(secretSHA256: [UInt8])
        case signed(id: String)
    }

    /// A signed token ("v1:…") when the profile has a connector bundle; else the static challenge
    /// (constant-time over SHA-256 digests), else a one-time challenge consumed atomically.
    /// Returns what was consumed (nothing for the static challenge).
    func checkChallenge(_ password: String?, csr: CertificateSigningRequest, endpoint: SCEPEndpointRecord,
                        transactionID: String) async throws -> ConsumedChallenge? {
        guard let password, !password.isEmpty else {
            throw SCEPError("scep_challenge_missing", .badRequest, "the CSR carries no challengePassword")
        }
        if let anchor = endpoint.signedChallengeTrustAnchor, SCEPSignedChallenge.isSignedToken(password) {
            return try await checkSignedChallenge(password, csr: csr, endpoint: endpoint, anchor: anchor, transactionID: transactionID)
        }
        let digest = Array(SHA256.hash(data: Data(password.utf8)))
        if let expected = endpoint.staticChallengeSHA256, ConstantTime.equal(expected, digest) { return nil }
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
            return .oneTime(secretSHA256: digest)
        case .alreadyUsed: throw SCEPError("scep_challenge_reused", .badRequest, "this one-time challenge was already used")
        case .expired: throw SCEPError("scep_challenge_expired", .badRequest, "this one-time challenge has expired")
        case .unknown: throw SCEPError("scep_challenge_invalid", .badRequest, "the challenge password is wrong")
        }
    }

    /// The Intune-style model: a connector's signature, this profile as audience, the validity window,
    /// an optional commonName binding, and the token id used once across replicas (Postgres).
    private func checkSignedChallenge(_ token: String, csr: CertificateSigningRequest, endpoint: SCEPEndpointRecord,
                                      anchor: String, transactionID: String) async throws -> ConsumedChallenge {
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
        return .signed(id: challenge.id)
    }

    /// Makes a challenge usable again after the signer could not be reached: the device got a 503, not a
    /// certificate, and its retry must not be refused as a reuse. Should the signer have signed before its
    /// answer was lost, that certificate stays issued but undelivered, as it would if an operator minted a
    /// new challenge instead (docs/scep.md). A database failure here leaves the challenge used (logged).
    func giveBack(_ challenge: ConsumedChallenge?, endpoint: SCEPEndpointRecord, transactionID: String) async {
        guard let challenge else { return }
        do {
            let released: Bool
            switch challenge {
            case .oneTime(let digest):
                released = try await store.releaseChallenge(profile: endpoint.name, secretSHA256: digest, transactionID: transactionID)
            case .signed(let id):
                released = try await store.releaseSignedChallenge(profile: endpoint.name, id: id, transactionID: transactionID)
            }
            logger.notice("SCEP challenge given back: the signer could not be reached", metadata: [
                "profile": "\(endpoint.name)", "transaction_id": "\(transactionID)", "released": "\(released)",
            ])
        } catch {
            logger.error("SCEP challenge could not be given back; it stays used", metadata: [
                "profile": "\(endpoint.name)", "transaction_id": "\(transactionID)", "error": "\(DatabaseErrorText.describe(error))",
            ])
        }
    }
}
