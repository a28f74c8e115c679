import CertctlStore
import Foundation
import Hummingbird

/// `/api/v1/api-keys`: create, list, revoke and rotate API keys (admin only; docs/api-keys.md).
/// A new key's secret is in the response that creates it and nowhere else.
struct APIKeyRoutes: Sendable {
    let support: APISupport
    let keys: APIKeyStore

    struct CreateBody: Decodable {
        let actor: String
        let role: String
        let description: String?
        let expires_at: Date?
    }

    struct KeyJSON: Encodable {
        let record: APIKeyRecord
        /// Only when the key was just made.
        let key: String?

        enum CodingKeys: String, CodingKey {
            case id, actor, role, description, key_prefix, created_at, created_by, expires_at, revoked_at, revoked_by,
                 last_used_at, bootstrap, replaces, key
        }

        // Absent values are null, never missing keys; `key` appears only on creation.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(record.id.uuidString.lowercased(), forKey: .id)
            try c.encode(record.actor, forKey: .actor)
            try c.encode(record.role.rawValue, forKey: .role)
            try c.encode(record.description, forKey: .description)
            try c.encode(record.keyPrefix, forKey: .key_prefix)
            try c.encode(record.createdAt, forKey: .created_at)
            try c.encode(record.createdBy, forKey: .created_by)
            try c.encode(record.expiresAt, forKey: .expires_at)
            try c.encode(record.revokedAt, forKey: .revoked_at)
            try c.encode(record.revokedBy, forKey: .revoked_by)
            try c.encode(record.lastUsedAt, forKey: .last_used_at)
            try c.encode(record.bootstrap, forKey: .bootstrap)
            try c.encode(record.replaces?.uuidString.lowercased(), forKey: .replaces)
            if let key { try c.encode(key, forKey: .key) }
        }
    }

    struct ListJSON: Encodable { let items: [KeyJSON] }

    func add(to router: Router<BasicRequestContext>) {
        let group = router.group("/api/v1/api-keys")
        group.post { request, _ in try await create(request) }
        group.get { request, _ in
            _ = try await support.require(request, [.admin])
            let includeRevoked = try APISupport.flag(request, "include_revoked")
            return try APISupport.json(ListJSON(items: try await keys.list(includeRevoked: includeRevoked).map { KeyJSON(record: $0, key: nil) }))
        }
        group.get("/:id") { request, context in
            _ = try await support.require(request, [.admin])
            let id = try Self.keyID(context)
            guard let record = try await keys.get(id) else { throw Self.notFound(id) }
            return try APISupport.json(KeyJSON(record: record, key: nil))
        }
        group.post("/:id/revoke") { request, context in
            let principal = try await support.require(request, [.admin])
            let id = try Self.keyID(context)
            do {
                return try APISupport.json(KeyJSON(record: try await keys.revoke(id, by: principal.actor, service: "admin"), key: nil))
            } catch let error as APIKeyStoreError {
                throw Self.apiError(error, id)
            }
        }
        group.post("/:id/rotate") { request, context in
            let principal = try await support.require(request, [.admin])
            let id = try Self.keyID(context)
            do {
                let (record, key) = try await keys.rotate(id, by: principal.actor, service: "admin")
                return try APISupport.json(KeyJSON(record: record, key: key), status: .created)
            } catch let error as APIKeyStoreError {
                throw Self.apiError(error, id)
            }
        }
    }

    func create(_ request: Request) async throws -> Response {
        let principal = try await support.require(request, [.admin])
        let (record, key) = try await create(try await APISupport.decode(CreateBody.self, from: request), by: principal)
        return try APISupport.json(KeyJSON(record: record, key: key), status: .created)
    }

    /// Validation and creation, for the API and the web console: the new key's record and its secret (shown once).
    func create(_ body: CreateBody, by principal: Principal) async throws -> (APIKeyRecord, String) {
        guard let role = APIRole(rawValue: body.role) else {
            throw APIError(.badRequest, "invalid_request", "role must be admin, operator or auditor")
        }
        guard APISupport.matches(body.actor, "^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$") else {
            throw APIError(.badRequest, "invalid_request",
                           "actor must be 1 to 200 characters: letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
        }
        let description = body.description ?? ""
        guard description.count <= 500, !description.contains(where: { $0.isNewline }) else {
            throw APIError(.badRequest, "invalid_request", "description must be one line of at most 500 characters")
        }
        if let expires = body.expires_at, expires <= Date() {
            throw APIError(.badRequest, "invalid_request", "expires_at must be in the future")
        }
        return try await keys.create(
            APIKeyFields(actor: body.actor, role: role, description: description, expiresAt: body.expires_at),
            createdBy: principal.actor, service: "admin")
    }

    static func keyID(_ context: BasicRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError(.notFound, "api_key_not_found", "API key ids are UUIDs")
        }
        return id
    }

    static func notFound(_ id: UUID) -> APIError {
        APIError(.notFound, "api_key_not_found", "API key \(id.uuidString.lowercased()) does not exist")
    }

    static func apiError(_ error: APIKeyStoreError, _ id: UUID) -> APIError {
        switch error {
        case .notFound: notFound(id)
        case .alreadyRevoked: APIError(.conflict, "api_key_revoked", "API key \(id.uuidString.lowercased()) is already revoked")
        case .lastAdminKey:
            APIError(.conflict, "last_admin_key", "this is the last active admin key: create another admin key before revoking it")
        }
    }
}
