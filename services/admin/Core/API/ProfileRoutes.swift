import CertctlIssuance
import CertctlPKI
import CertctlStore
import Foundation
import Hummingbird

/// `/api/v1/profiles`: what certificates of each profile may contain.
struct ProfileRoutes: Sendable {
    let support: APISupport
    let profiles: ProfileStore

    struct ProfileBody: Decodable {
        let id: String?
        let description: String?
        let allowed_key_algorithms: [String]
        let max_validity_days: Int
        let extended_key_usages: [String]?
        let allowed_san_types: [String]?
        let san_patterns: [String]?
        let allow_ca: Bool?
    }

    struct ProfileJSON: Encodable {
        let id: String
        let description: String
        let allowed_key_algorithms: [String]
        let max_validity_days: Int
        let extended_key_usages: [String]
        let allowed_san_types: [String]
        let san_patterns: [String]
        let allow_ca: Bool
        let created_at: Date
        let updated_at: Date

        init(_ r: ProfileRecord) {
            id = r.id; description = r.description; allowed_key_algorithms = r.allowedKeyAlgorithms
            max_validity_days = r.maxValidityDays; extended_key_usages = r.extendedKeyUsages
            allowed_san_types = r.allowedSANTypes; san_patterns = r.sanPatterns; allow_ca = r.allowCA
            created_at = r.createdAt; updated_at = r.updatedAt
        }
    }

    struct Items: Encodable { let items: [ProfileJSON] }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/profiles") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await profiles.list().map(ProfileJSON.init)))
        }
        router.get("/api/v1/profiles/:id") { request, context in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            let id = context.parameters.get("id") ?? ""
            guard let profile = try await profiles.get(id) else {
                throw APIError(.notFound, "profile_not_found", "profile \(id) does not exist")
            }
            return try APISupport.json(ProfileJSON(profile))
        }
        router.post("/api/v1/profiles") { request, _ in
            let principal = try await support.require(request, [.admin])
            let body = try await APISupport.decode(ProfileBody.self, from: request)
            return try APISupport.json(ProfileJSON(try await create(body, by: principal)), status: .created)
        }
        router.put("/api/v1/profiles/:id") { request, context in
            let principal = try await support.require(request, [.admin])
            let id = context.parameters.get("id") ?? ""
            let body = try await APISupport.decode(ProfileBody.self, from: request)
            return try APISupport.json(ProfileJSON(try await update(id, body, by: principal)))
        }
        router.delete("/api/v1/profiles/:id") { request, context in
            let principal = try await support.require(request, [.admin])
            try await delete(context.parameters.get("id") ?? "", by: principal)
            return Response(status: .noContent)
        }
    }

    /// The profile requests without `profile_id` use: deleting it would break them.
    static let defaultProfile = "default"

    /// Deletion of an unused profile, for the API and the web console.
    func delete(_ id: String, by principal: Principal) async throws {
        guard id != Self.defaultProfile else {
            throw APIError(.conflict, "profile_in_use", "profile default is used by every request that names no profile")
        }
        do {
            try await profiles.delete(id, audit: audit(principal, "profile.delete", id))
        } catch ProfileStoreError.notFound {
            throw APIError(.notFound, "profile_not_found", "profile \(id) does not exist")
        } catch ProfileStoreError.inUse {
            throw APIError(.conflict, "profile_in_use",
                           "profile \(id) is named by certificates, SCEP endpoints, EST labels or held requests: it stays")
        }
    }

    /// Validation and creation, for the API and the web console.
    func create(_ body: ProfileBody, by principal: Principal) async throws -> ProfileRecord {
        guard let id = body.id else { throw APIError(.badRequest, "invalid_request", "field id is required") }
        let record = try validate(body, id: id)
        do {
            return try await profiles.create(record, audit: audit(principal, "profile.create", id))
        } catch ProfileStoreError.exists {
            throw APIError(.conflict, "profile_exists", "profile \(id) already exists")
        }
    }

    /// Validation and replacement of profile `id`, for the API and the web console.
    func update(_ id: String, _ body: ProfileBody, by principal: Principal) async throws -> ProfileRecord {
        if let bodyID = body.id, bodyID != id {
            throw APIError(.badRequest, "invalid_request", "the body's id does not match the URL")
        }
        do {
            return try await profiles.update(try validate(body, id: id), audit: audit(principal, "profile.update", id))
        } catch ProfileStoreError.notFound {
            throw APIError(.notFound, "profile_not_found", "profile \(id) does not exist")
        }
    }

    func audit(_ principal: Principal, _ action: String, _ id: String) -> AuditRecord {
        AuditRecord(service: "admin", actor: principal.actor, action: action, outcome: .success,
                    targetType: "profile", targetID: id)
    }

    /// Every value must be one this build knows; nothing is stored otherwise.
    func validate(_ body: ProfileBody, id: String) throws -> ProfileRecord {
        guard APISupport.matches(id, "^[a-z0-9][a-z0-9_-]{0,62}$") else {
            throw APIError(.badRequest, "invalid_request", "id must match ^[a-z0-9][a-z0-9_-]{0,62}$")
        }
        func check(_ values: [String], _ allowed: [String], _ field: String) throws {
            for value in values where !allowed.contains(value) {
                throw APIError(.badRequest, "invalid_request", "\(field): \(value) is not one of \(allowed.joined(separator: ", "))")
            }
            guard Set(values).count == values.count else {
                throw APIError(.badRequest, "invalid_request", "\(field) must not name a value twice")
            }
        }
        try check(body.allowed_key_algorithms, KeyAlgorithm.allCases.map(\.rawValue), "allowed_key_algorithms")
        guard !body.allowed_key_algorithms.isEmpty else {
            throw APIError(.badRequest, "invalid_request", "allowed_key_algorithms must not be empty")
        }
        try check(body.extended_key_usages ?? [], CertificateProfile.Usage.allCases.map(\.rawValue), "extended_key_usages")
        try check(body.allowed_san_types ?? [], CertificateProfile.SANType.allCases.map(\.rawValue), "allowed_san_types")
        guard (1...36500).contains(body.max_validity_days) else {
            throw APIError(.badRequest, "invalid_request", "max_validity_days must be from 1 to 36500")
        }
        return ProfileRecord(
            id: id, description: body.description ?? "", allowedKeyAlgorithms: body.allowed_key_algorithms,
            maxValidityDays: body.max_validity_days, extendedKeyUsages: body.extended_key_usages ?? [],
            allowedSANTypes: body.allowed_san_types ?? [], sanPatterns: body.san_patterns ?? [], allowCA: body.allow_ca ?? false)
    }
}
