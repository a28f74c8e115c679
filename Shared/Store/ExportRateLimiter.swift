import Foundation
import Logging
import PostgresNIO

/// The per-key hourly limit on certificate exports
/// (CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR). Kept in Postgres, one row
/// per export for an hour, so it holds across admin replicas: a sliding
/// window, checked and recorded under a per-key transaction lock.
public struct ExportRateLimiter: Sendable {
    let client: DatabaseClient
    let limitPerHour: Int
    let logger: Logger

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Over the limit; the oldest export in the window leaves it after this many seconds.
        case limited(retryAfterSeconds: Int)
    }

    public init(client: DatabaseClient, limitPerHour: Int, logger: Logger) {
        self.client = client
        self.limitPerHour = limitPerHour
        self.logger = logger
    }

    /// Counts one export by `keyID` if the window has room. A limit of 0 means no limit.
    public func admit(keyID: UUID) async throws -> Decision {
        guard limitPerHour > 0 else { return .allowed }
        let logger = self.logger, limit = Int64(limitPerHour)
        return try await client.transaction(logger: logger) { connection in
            try await connection.query("""
                SELECT pg_advisory_xact_lock(hashtextextended('certctl.export.' || \(keyID.uuidString.lowercased()), 0))
                """, logger: logger)
            try await connection.query("""
                DELETE FROM certificate_exports WHERE key_id = \(keyID) AND exported_at <= now() - interval '1 hour'
                """, logger: logger)
            let rows = try await connection.query("""
                SELECT count(*), COALESCE(ceil(extract(epoch FROM min(exported_at) + interval '1 hour' - now())), 0)::bigint
                FROM certificate_exports WHERE key_id = \(keyID)
                """, logger: logger)
            var count: Int64 = 0, retryAfter: Int64 = 0
            for try await (c, r) in rows.decode((Int64, Int64).self) { (count, retryAfter) = (c, r) }
            if count >= limit { return .limited(retryAfterSeconds: Int(max(1, retryAfter))) }
            try await connection.query("INSERT INTO certificate_exports (key_id) VALUES (\(keyID))", logger: logger)
            return .allowed
        }
    }
}
