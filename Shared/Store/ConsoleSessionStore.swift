import Crypto
import Foundation
import Logging
import PostgresNIO

/// A signed-in web console session: who it is (the API key's principal), its CSRF token and when it ends.
public struct ConsoleSession: Sendable, Equatable {
    public var principal: Principal
    public var csrfToken: String
    public var expiresAt: Date
}

/// Web console sessions (migration 0014, docs/console.md), in Postgres so every admin replica sees them.
/// Session ids and CSRF tokens are 256-bit random values; only SHA-256 of the session id is stored.
/// A session is valid while it has not expired and its API key is active (not revoked, not expired).
public struct ConsoleSessionStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// 32 random bytes, base64url without padding (43 characters).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ sessionID: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Data(sessionID.utf8))))
    }

    /// Starts a session for `principal`, valid for `lifetime`; returns its id (the cookie's value) and the session.
    /// Sessions that have expired are deleted on the way.
    public func create(for principal: Principal, lifetime: Duration) async throws -> (id: String, session: ConsoleSession) {
        let id = Self.randomToken()
        let csrf = Self.randomToken()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
        let logger = self.logger
        let expiresAt: Date = try await client.withConnection { connection in
            try await connection.query("DELETE FROM console_sessions WHERE expires_at <= now()", logger: logger)
            let rows = try await connection.query("""
                INSERT INTO console_sessions (id_hash, api_key_id, csrf_token, expires_at)
                VALUES (\(Self.hash(id)), \(principal.keyID), \(csrf), now() + make_interval(secs => \(seconds)))
                RETURNING expires_at
                """, logger: logger)
            var expires = Date()
            for try await value in rows.decode(Date.self) { expires = value }
            return expires
        }
        return (id, ConsoleSession(principal: principal, csrfToken: csrf, expiresAt: expiresAt))
    }

    /// The live session with this id, or nil (unknown, expired, or its key is no longer active).
    public func find(_ sessionID: String) async throws -> ConsoleSession? {
        guard (20...200).contains(sessionID.count) else { return nil }
        let rows = try await client.query("""
            SELECT k.id, k.actor, k.role, s.csrf_token, s.expires_at
            FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id
            WHERE s.id_hash = \(Self.hash(sessionID)) AND s.expires_at > now()
              AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
            """, logger: logger)
        var found: ConsoleSession?
        for try await (keyID, actor, role, csrf, expires) in rows.decode((UUID, String, String, String, Date).self) {
            guard let role = APIRole(rawValue: role) else { continue }
            found = ConsoleSession(principal: Principal(actor: actor, role: role, keyID: keyID), csrfToken: csrf, expiresAt: expires)
        }
        return found
    }

    /// Ends the session (logout). Unknown ids are ignored.
    public func delete(_ sessionID: String) async throws {
        try await client.query("DELETE FROM console_sessions WHERE id_hash = \(Self.hash(sessionID))", logger: logger)
    }
}
