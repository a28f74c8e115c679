import CertctlConfig
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import Hummingbird

/// `/api/v1/scep/profiles` (SCEP endpoints) and `/api/v1/scep/{profile}/challenges` (one-time challenges).
struct SCEPAdminRoutes: Sendable {
    let support: APISupport
    let store: EnrollmentSCEPStore

    struct ProfileBody: Decodable {
        let name: String
        let issuer_id: String
        let profile_id: String?
        let ra_cert_path: String
        let ra_key_path: String
        let static_challenge: String?
        let allow_one_time_challenges: Bool?
        let validity_days: Int?
        let signed_challenge_trust_anchor: String?
        let require_approval: Bool?
        let accept_renewals_from: [String]?
    }

    struct ProfileJSON: Encodable {
        let name: String
        let issuer_id: String
        let profile_id: String
        let ra_cert_path: String
        let ra_key_path: String
        let has_static_challenge: Bool
        let allow_one_time_challenges: Bool
        let validity_days: Int?
        let signed_challenge_trust_anchor: String?
        let require_approval: Bool
        let accept_renewals_from: [String]
        let path: String
        let created_at: Date

        init(_ r: SCEPEndpointRecord) {
            name = r.name; issuer_id = r.issuerID; profile_id = r.profileID; ra_cert_path = r.raCertPath
            ra_key_path = r.raKeyPath; has_static_challenge = r.staticChallengeSHA256 != nil
            allow_one_time_challenges = r.allowOneTimeChallenges; validity_days = r.validityDays
            signed_challenge_trust_anchor = r.signedChallengeTrustAnchor
            require_approval = r.requireApproval
            accept_renewals_from = r.acceptRenewalsFrom
            path = "/scep/\(r.name)"; created_at = r.createdAt
        }
    }

    struct Items: Encodable { let items: [ProfileJSON] }

    struct ChallengeBody: Decodable {
        let ttl_seconds: Int?
        let expected_subject: String?
        /// Exact set of subjectAltNames the CSR must request: "DNS:host", "IP:10.0.0.1", "email:a@b", "URI:…".
        let expected_sans: [String]?
    }

    struct ChallengeJSON: Encodable {
        let id: String
        let profile: String
        let challenge: String
        let expires_at: Date
        let expected_subject: String?
        let expected_sans: [String]?
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/scep/profiles") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await store.list().map(ProfileJSON.init)))
        }
        router.get("/api/v1/scep/profiles/:name") { request, context in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            let name = context.parameters.get("name") ?? ""
            guard let profile = try await store.get(name) else { throw Self.notFound(name) }
            return try APISupport.json(ProfileJSON(profile))
        }
        router.post("/api/v1/scep/profiles") { request, _ in
            let principal = try await support.require(request, [.admin])
            let body = try await APISupport.decode(ProfileBody.self, from: request)
            let record = try validate(body)
            do {
                try await store.create(record, audit: AuditRecord(
                    service: "admin", actor: principal.actor, action: "scep_profile.create", outcome: .success,
                    targetType: "scep_profile", targetID: record.name))
            } catch EnrollmentStoreError.exists {
                throw APIError(.conflict, "scep_profile_exists", "SCEP profile \(record.name) already exists")
            } catch EnrollmentStoreError.missingReference {
                throw APIError(.unprocessableContent, "invalid_reference",
                               "issuer \(record.issuerID), certificate profile \(record.profileID) or signed_challenge_trust_anchor "
                                   + "(a trust anchor of purpose scep-signed-challenge) does not exist")
            }
            return try APISupport.json(ProfileJSON(try await store.get(record.name) ?? record), status: .created)
        }
        // Only accept_renewals_from can change; everything else is set when the endpoint is created.
        router.patch("/api/v1/scep/profiles/:name") { request, context in
            let name = context.parameters.get("name") ?? ""
            return try await RenewalSources.update(request, support: support, targetType: "scep_profile", name: name, notFound: Self.notFound(name),
                                                   write: { try await store.setAcceptRenewalsFrom(name, $0, audit: $1) },
                                                   read: { try await store.get(name).map(ProfileJSON.init) })
        }
        router.delete("/api/v1/scep/profiles/:name") { request, context in
            let principal = try await support.require(request, [.admin])
            let name = context.parameters.get("name") ?? ""
            do {
                try await store.delete(name, audit: AuditRecord(
                    service: "admin", actor: principal.actor, action: "scep_profile.delete", outcome: .success,
                    targetType: "scep_profile", targetID: name))
            } catch EnrollmentStoreError.notFound {
                throw Self.notFound(name)
            }
            return Response(status: .noContent)
        }
        router.post("/api/v1/scep/:profile/challenges") { request, context in
            let principal = try await support.require(request, [.admin, .operator])
            let name = context.parameters.get("profile") ?? ""
            let body = try await APISupport.decode(ChallengeBody.self, from: request)
            return try APISupport.json(try await mintChallenge(name, body, by: principal), status: .created)
        }
    }

    /// Validation and minting of a one-time challenge, for the API and the web console: the secret is in the
    /// answer only (the store keeps its SHA-256).
    func mintChallenge(_ name: String, _ body: ChallengeBody, by principal: Principal) async throws -> ChallengeJSON {
        let ttl = body.ttl_seconds ?? 3600
        guard (60...(30 * 86_400)).contains(ttl) else {
            throw APIError(.badRequest, "invalid_request", "ttl_seconds must be from 60 to 2592000")
        }
        let sans = try body.expected_sans.map(Self.normalizedSANs)
        guard let profile = try await store.get(name) else { throw Self.notFound(name) }
        guard profile.allowOneTimeChallenges else {
            throw APIError(.conflict, "one_time_challenges_disabled", "SCEP profile \(name) does not accept one-time challenges")
        }
        // 128 random bits, URL-safe: fits any client's challengePassword field (PrintableString-safe too).
        let secret = Hex.random(octets: 16)
        let expires = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(ttl)).rounded(.down))
        let id = try await store.mintChallenge(
            profile: name, secretSHA256: Array(SHA256.hash(data: Data(secret.utf8))),
            expectedSubject: body.expected_subject, expectedSANs: sans, expiresAt: expires, createdBy: principal.actor,
            audit: AuditRecord(service: "admin", actor: principal.actor, action: "scep_challenge.create", outcome: .success,
                               targetType: "scep_profile", targetID: name, details: ["ttl_seconds": "\(ttl)"]))
        return ChallengeJSON(id: id.uuidString.lowercased(), profile: name, challenge: secret,
                             expires_at: expires, expected_subject: body.expected_subject, expected_sans: sans)
    }

    /// "DNS:host", "IP:addr", "email:addr", "URI:uri" in the form GeneralNameText.describe writes
    /// for a CSR's names (IP addresses re-formatted, DNS names lower-cased), so equal sets compare equal.
    static func normalizedSANs(_ names: [String]) throws -> [String] {
        guard (1...100).contains(names.count) else {
            throw APIError(.badRequest, "invalid_request", "expected_sans must list 1 to 100 names")
        }
        return try names.map { name in
            guard let colon = name.firstIndex(of: ":"), case let value = String(name[name.index(after: colon)...]), !value.isEmpty else {
                throw APIError(.badRequest, "invalid_request", "expected_sans entry \(name) must be TYPE:value (DNS, IP, email, URI)")
            }
            switch name[..<colon].lowercased() {
            case "dns": return "DNS:" + value.lowercased()
            case "ip":
                guard let bytes = IPAddressText.parse(value), let text = IPAddressText.format(bytes) else {
                    throw APIError(.badRequest, "invalid_request", "expected_sans entry \(name) is not an IP address")
                }
                return "IP:" + text
            case "email": return "email:" + value
            case "uri": return "URI:" + value
            default: throw APIError(.badRequest, "invalid_request", "expected_sans entry \(name): type must be DNS, IP, email or URI")
            }
        }
    }

    static func notFound(_ name: String) -> APIError {
        APIError(.notFound, "scep_profile_not_found", "SCEP profile \(name) does not exist")
    }

    func validate(_ body: ProfileBody) throws -> SCEPEndpointRecord {
        guard APISupport.matches(body.name, "^[a-z0-9][a-z0-9_-]{0,62}$") else {
            throw APIError(.badRequest, "invalid_request", "name must match ^[a-z0-9][a-z0-9_-]{0,62}$")
        }
        for (field, path) in [("ra_cert_path", body.ra_cert_path), ("ra_key_path", body.ra_key_path)]
        where !path.hasPrefix("/") || path.contains("\0") {
            throw APIError(.badRequest, "invalid_request", "\(field) must be an absolute path (read by certctl-enroll)")
        }
        if let challenge = body.static_challenge, !(8...255).contains(challenge.count) {
            throw APIError(.badRequest, "invalid_request", "static_challenge must have 8 to 255 characters")
        }
        // The profile's own max_validity_days still caps issuance; this bound keeps the column's int in range.
        if let days = body.validity_days, !(1...36_500).contains(days) {
            throw APIError(.badRequest, "invalid_request", "validity_days must be from 1 to 36500")
        }
        let oneTime = body.allow_one_time_challenges ?? true
        guard body.static_challenge != nil || oneTime || body.signed_challenge_trust_anchor != nil else {
            throw APIError(.badRequest, "invalid_request",
                           "a profile needs a static_challenge, one-time challenges or a signed_challenge_trust_anchor")
        }
        try APISupport.requireIssuerIDForm(body.issuer_id)
        return SCEPEndpointRecord(
            name: body.name, issuerID: body.issuer_id, profileID: body.profile_id ?? "default",
            raCertPath: body.ra_cert_path, raKeyPath: body.ra_key_path,
            staticChallengeSHA256: body.static_challenge.map { Array(SHA256.hash(data: Data($0.utf8))) },
            allowOneTimeChallenges: oneTime, validityDays: body.validity_days,
            signedChallengeTrustAnchor: body.signed_challenge_trust_anchor, requireApproval: body.require_approval ?? false,
            acceptRenewalsFrom: try RenewalSources.validated(body.accept_renewals_from))
    }
}
