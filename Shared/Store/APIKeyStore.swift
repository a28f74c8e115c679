import CertctlConfig
import Crypto
import Foundation
import Logging
import PostgresNIO

/// Who may do what through the admin API.
public enum APIRole: String, Sendable, CaseIterable {
    case admin, `operator`, auditor
}

/// API keys are stored as SHA-256 hashes only. Keys are 256-bit random
/// secrets, so a fast hash is enough: there is nothing to brute-force.
public struct APIKeyStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public static func hash(_ key: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(key.utf8)))
    }

    /// The first characters of a key, stored to recognise it in listings.
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

    /// Ensures `key` exists as an active key with `role` for `actor`.
    /// Returns true when a row was created (and audited), false when it existed.
    @discardableResult
    public func ensure(key: String, role: APIRole, actor: String, service: String) async throws -> Bool {
        let hash = ByteBuffer(bytes: Self.hash(key))
        let prefix = Self.prefix(key)
        return try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO api_keys (actor, role, key_hash, key_prefix)
                VALUES (\(actor), \(role.rawValue), \(hash), \(prefix))
                ON CONFLICT (key_hash) DO NOTHING
                RETURNING id
                """, logger: logger)
            guard let id = try await rows.decode(UUID.self).first(where: { _ in true }) else { return false }
            try await AuditLog.record(
                AuditRecord(service: service, actor: "system", action: "api_key.create", outcome: .success,
                            targetType: "api_key", targetID: id.uuidString.lowercased(),
                            details: ["role": role.rawValue, "actor": actor, "key_prefix": prefix]),
                on: connection, logger: logger)
            return true
        }
    }
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

extension APIKeyStore {
    /// The active key whose SHA-256 is that of `key`, if any. The lookup is by
    /// hash (an attacker cannot steer the hash bytes), and the stored hash is
    /// compared again in constant time before it counts.
    public func authenticate(_ key: String) async throws -> Principal? {
        let hash = Self.hash(key)
        let rows = try await client.query("""
            SELECT id, actor, role, key_hash FROM api_keys
            WHERE key_hash = \(ByteBuffer(bytes: hash)) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger)
        for try await (id, actor, role, stored) in rows.decode((UUID, String, String, ByteBuffer).self) {
            guard ConstantTime.equal(Array(buffer: stored), hash), let role = APIRole(rawValue: role) else { return nil }
            return Principal(actor: actor, role: role, keyID: id)
        }
        return nil
    }
}
