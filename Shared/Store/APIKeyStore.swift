import CertctlConfig
import Crypto
import Foundation
import Logging
import PostgresNIO

/// Who may do what through the admin API.
public enum APIRole: String, Sendable, CaseIterable {
    case admin, `operator`, auditor
}

/// The authenticated caller of the admin API.
public struct Principal: Sendable, Equatable {
    public var actor: String
    public var role: APIRole
    public var keyID: UUID

    public init(actor: String, role: APIRole, keyID: UUID) {
        self.actor = actor
        self.role = role
        self.keyID = keyID
    }
}

/// API keys as stored: SHA-256(salt || key) with a 16-byte salt per key,
/// found by their first characters (`key_prefix`). Keys are 256-bit random
/// secrets, so one fast hash is enough: there is nothing to brute-force; the
/// salt keeps equal keys from having equal rows. Rows written before
/// migration 0013 hold SHA-256(key) without a salt and are re-hashed on their
/// next use. The lifecycle (create, list, revoke, rotate) is in APIKeyLifecycle.swift.
public struct APIKeyStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    /// How stale `last_used_at` may get before a request refreshes it (one write per key per minute at most).
    static let lastUsedResolution = 60

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// SHA-256 of the key alone: the form of rows from before migration 0013.
    public static func hash(_ key: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(key.utf8)))
    }

    public static func hash(_ key: String, salt: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: Data(key.utf8))
        return Array(hasher.finalize())
    }

    static func newSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The first characters of a key, stored to find and recognise it.
    public static func prefix(_ key: String) -> String {
        String(key.prefix(10))
    }

    /// A new random key: `cctl_` + 43 base64url characters (256 bits).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let encoded = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "cctl_" + encoded
    }

    /// A stored key that `key` is, if any, revoked or not.
    struct Match {
        var id: UUID
        var actor: String
        var role: String
        var active: Bool
        var legacy: Bool
        var lastUsedStale: Bool
    }

    /// The row `key` matches among the rows with its prefix. Candidates are compared in constant time.
    static func find(_ key: String, on connection: PostgresConnection, logger: Logger) async throws -> Match? {
        let rows = try await connection.query("""
            SELECT id, actor, role, key_hash, key_salt,
                   revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()),
                   last_used_at IS NULL OR last_used_at < now() - make_interval(secs => \(lastUsedResolution))
            FROM api_keys WHERE key_prefix = \(prefix(key))
            """, logger: logger)
        var found: Match?
        for try await (id, actor, role, stored, salt, active, stale)
            in rows.decode((UUID, String, String, ByteBuffer, ByteBuffer?, Bool, Bool).self) {
            let computed = salt.map { hash(key, salt: Array(buffer: $0)) } ?? hash(key)
            if ConstantTime.equal(Array(buffer: stored), computed), found == nil {
                found = Match(id: id, actor: actor, role: role, active: active, legacy: salt == nil, lastUsedStale: stale)
            }
        }
        return found
    }

    /// The caller `key` belongs to, if it is an active, unexpired key. Records when it was last used
    /// (at most once a minute) and re-hashes a pre-0013 row with a salt.
    public func authenticate(_ key: String) async throws -> Principal? {
        let logger = self.logger
        return try await client.withConnection { connection in
            guard let match = try await Self.find(key, on: connection, logger: logger), match.active,
                  let role = APIRole(rawValue: match.role) else { return nil }
            do {
                if match.legacy {
                    let salt = Self.newSalt()
                    try await connection.query("""
                        UPDATE api_keys SET key_salt = \(ByteBuffer(bytes: salt)),
                            key_hash = \(ByteBuffer(bytes: Self.hash(key, salt: salt))), last_used_at = now()
                        WHERE id = \(match.id) AND key_salt IS NULL
                        """, logger: logger)
                } else if match.lastUsedStale {
                    try await connection.query("UPDATE api_keys SET last_used_at = now() WHERE id = \(match.id)", logger: logger)
                }
            } catch where DatabaseErrorText.isReadOnly(error) {
                // a read-only database (standby, maintenance): the key still authenticates; bookkeeping waits
                logger.debug("api key last_used_at not recorded: database is read-only", metadata: ["key_id": "\(match.id)"])
            }
            return Principal(actor: match.actor, role: role, keyID: match.id)
        }
    }

    /// Ensures `key` exists as an active key with `role` for `actor` (tests and tooling; the bootstrap
    /// key goes through `ensureBootstrap`). Returns true when a row was created (and audited).
    @discardableResult
    public func ensure(key: String, role: APIRole, actor: String, service: String) async throws -> Bool {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            if try await Self.find(key, on: connection, logger: logger) != nil { return false }
            _ = try await Self.insert(
                key: key, fields: .init(actor: actor, role: role, description: "", expiresAt: nil),
                createdBy: "system", bootstrap: false, replaces: nil, service: service, on: connection, logger: logger)
            return true
        }
    }
}
