import Foundation
import Logging
import PostgresNIO

/// An API key as listed: everything but the secret, which exists only in the
/// response that created it.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: UUID
    public var actor: String
    public var role: APIRole
    public var description: String
    public var keyPrefix: String
    public var createdAt: Date
    public var createdBy: String?
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var revokedBy: String?
    public var lastUsedAt: Date?
    public var bootstrap: Bool
    public var replaces: UUID?
}

/// What a new key is for.
public struct APIKeyFields: Sendable {
    public var actor: String
    public var role: APIRole
    public var description: String
    public var expiresAt: Date?

    public init(actor: String, role: APIRole, description: String, expiresAt: Date?) {
        self.actor = actor
        self.role = role
        self.description = description
        self.expiresAt = expiresAt
    }
}

public enum APIKeyStoreError: Error, Equatable {
    case notFound
    /// Revoking it would leave no active admin key, and nobody could manage keys again.
    case lastAdminKey
    case alreadyRevoked
}

/// What `ensureBootstrap` did with CERTCTL_API_KEY.
public enum BootstrapKeyOutcome: Sendable, Equatable {
    case present
    /// Stored; `revokedPrevious` earlier bootstrap keys were revoked.
    case created(revokedPrevious: Int)
    /// The key was revoked through the API; a restart does not bring it back.
    case revoked
}

extension APIKeyStore {
    static let columns = """
        id, actor, role, description, key_prefix, created_at, created_by, expires_at, revoked_at, revoked_by,
        last_used_at, bootstrap, replaces
        """

    /// Serialises changes that count the active admin keys, across admin replicas.
    static let lifecycleLock: Int64 = 0x6365_7274_6b65_7973  // "certkeys"

    public func create(_ fields: APIKeyFields, createdBy: String, service: String) async throws -> (APIKeyRecord, key: String) {
        let logger = self.logger
        let key = Self.generate()
        let record = try await client.transaction(logger: logger) { connection in
            try await Self.insert(key: key, fields: fields, createdBy: createdBy, bootstrap: false, replaces: nil,
                                  service: service, on: connection, logger: logger)
        }
        return (record, key)
    }

    public func list(includeRevoked: Bool) async throws -> [APIKeyRecord] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns) FROM api_keys
            WHERE \(includeRevoked) OR revoked_at IS NULL ORDER BY created_at, id
            """, logger: logger)
        return try await Self.decode(rows)
    }

    public func get(_ id: UUID) async throws -> APIKeyRecord? {
        let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM api_keys WHERE id = \(id)", logger: logger)
        return try await Self.decode(rows).first
    }

    /// Revokes key `id`; its next request gets 401. Refused for the last active admin key.
    public func revoke(_ id: UUID, by actor: String, service: String, reason: String = "revoked") async throws -> APIKeyRecord {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lifecycleLock))", logger: logger)
            guard let record = try await Self.lockedRecord(id, on: connection, logger: logger) else { throw APIKeyStoreError.notFound }
            guard record.revokedAt == nil else { throw APIKeyStoreError.alreadyRevoked }
            try await Self.revokeLocked(record, by: actor, service: service, reason: reason, on: connection, logger: logger)
            guard let updated = try await Self.lockedRecord(id, on: connection, logger: logger) else { throw APIKeyStoreError.notFound }
            return updated
        }
    }

    /// A new key with the old one's actor, role, description and expiry; the old key is revoked at once.
    public func rotate(_ id: UUID, by actor: String, service: String) async throws -> (APIKeyRecord, key: String) {
        let logger = self.logger
        let key = Self.generate()
        let record = try await client.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lifecycleLock))", logger: logger)
            guard let old = try await Self.lockedRecord(id, on: connection, logger: logger) else { throw APIKeyStoreError.notFound }
            guard old.revokedAt == nil else { throw APIKeyStoreError.alreadyRevoked }
            let new = try await Self.insert(
                key: key, fields: APIKeyFields(actor: old.actor, role: old.role, description: old.description, expiresAt: old.expiresAt),
                createdBy: actor, bootstrap: false, replaces: old.id, service: service, on: connection, logger: logger)
            try await Self.revokeLocked(old, by: actor, service: service, reason: "rotated", on: connection, logger: logger)
            return new
        }
        return (record, key)
    }

    /// Stores CERTCTL_API_KEY as the bootstrap admin key. A different value than before revokes the
    /// bootstrap key it replaces; a value that was revoked through the API stays revoked.
    public func ensureBootstrap(key: String, service: String) async throws -> BootstrapKeyOutcome {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lifecycleLock))", logger: logger)
            if let match = try await Self.find(key, on: connection, logger: logger) {
                return match.active ? .present : .revoked
            }
            let created = try await Self.insert(
                key: key, fields: APIKeyFields(actor: "bootstrap", role: .admin, description: "CERTCTL_API_KEY", expiresAt: nil),
                createdBy: "system", bootstrap: true, replaces: nil, service: service, on: connection, logger: logger)
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM api_keys
                WHERE bootstrap AND revoked_at IS NULL AND id <> \(created.id) FOR UPDATE
                """, logger: logger)
            let previous = try await Self.decode(rows)
            for old in previous {
                try await Self.revokeLocked(old, by: "system", service: service, reason: "replaced by a new CERTCTL_API_KEY",
                                            on: connection, logger: logger)
            }
            return .created(revokedPrevious: previous.count)
        }
    }

    // MARK: Inside a transaction

    static func insert(
        key: String, fields: APIKeyFields, createdBy: String, bootstrap: Bool, replaces: UUID?, service: String,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> APIKeyRecord {
        let salt = newSalt()
        let rows = try await connection.query("""
            INSERT INTO api_keys (actor, role, description, expires_at, key_hash, key_salt, key_prefix, created_by, bootstrap, replaces)
            VALUES (\(fields.actor), \(fields.role.rawValue), \(fields.description), \(fields.expiresAt),
                    \(ByteBuffer(bytes: hash(key, salt: salt))), \(ByteBuffer(bytes: salt)), \(prefix(key)), \(createdBy),
                    \(bootstrap), \(replaces))
            RETURNING \(unescaped: columns)
            """, logger: logger)
        guard let record = try await decode(rows).first else { throw APIKeyStoreError.notFound }
        var details = ["role": record.role.rawValue, "actor": record.actor, "key_prefix": record.keyPrefix]
        if !record.description.isEmpty { details["description"] = record.description }
        if let expires = record.expiresAt { details["expires_at"] = ISO8601DateFormatter().string(from: expires) }
        if let replaces { details["replaces"] = replaces.uuidString.lowercased() }
        if bootstrap { details["bootstrap"] = "true" }
        try await AuditLog.record(
            AuditRecord(service: service, actor: createdBy, action: replaces == nil ? "api_key.create" : "api_key.rotate",
                        outcome: .success, targetType: "api_key", targetID: record.id.uuidString.lowercased(), details: details),
            on: connection, logger: logger)
        return record
    }

    static func revokeLocked(
        _ record: APIKeyRecord, by actor: String, service: String, reason: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        if record.role == .admin {
            let rows = try await connection.query("""
                SELECT count(*) FROM api_keys
                WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AND id <> \(record.id)
                """, logger: logger)
            var others: Int64 = 0
            for try await count in rows.decode(Int64.self) { others = count }
            guard others > 0 else { throw APIKeyStoreError.lastAdminKey }
        }
        try await connection.query(
            "UPDATE api_keys SET revoked_at = now(), revoked_by = \(actor) WHERE id = \(record.id) AND revoked_at IS NULL",
            logger: logger)
        try await AuditLog.record(
            AuditRecord(service: service, actor: actor, action: "api_key.revoke", outcome: .success, targetType: "api_key",
                        targetID: record.id.uuidString.lowercased(),
                        details: ["role": record.role.rawValue, "actor": record.actor, "key_prefix": record.keyPrefix, "reason": reason]),
            on: connection, logger: logger)
    }

    static func lockedRecord(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> APIKeyRecord? {
        let rows = try await connection.query("SELECT \(unescaped: columns) FROM api_keys WHERE id = \(id) FOR UPDATE", logger: logger)
        return try await decode(rows).first
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [APIKeyRecord] {
        var result: [APIKeyRecord] = []
        for try await (id, actor, role, description, prefix, createdAt, createdBy, expiresAt, revokedAt, revokedBy, lastUsedAt,
                       bootstrap, replaces)
            in rows.decode((UUID, String, String, String, String, Date, String?, Date?, Date?, String?, Date?, Bool, UUID?).self) {
            result.append(APIKeyRecord(
                id: id, actor: actor, role: APIRole(rawValue: role) ?? .auditor, description: description, keyPrefix: prefix,
                createdAt: createdAt, createdBy: createdBy, expiresAt: expiresAt, revokedAt: revokedAt, revokedBy: revokedBy,
                lastUsedAt: lastUsedAt, bootstrap: bootstrap, replaces: replaces))
        }
        return result
    }
}
