import Foundation
import Logging
import PostgresNIO

/// What `certctl-admin doctor` reads about OCSP responders and CRLs (admin's role may read both).
public struct DeploymentHealthStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct Responders: Sendable {
        public var issuerID: String
        public var generation: Int
        /// Responder certificates still valid (one per replica key).
        public var valid: Int
        public var nextExpiry: Date?
    }

    public struct PublishedCRL: Sendable {
        public var issuerID: String
        public var generation: Int
        public var crlNumber: String
        public var thisUpdate: Date
        public var nextUpdate: Date
    }

    public struct LastAttempt: Sendable {
        public var issuerID: String
        public var generation: Int?
        public var succeeded: Bool
        public var startedAt: Date
        public var error: String?
    }

    public func responders() async throws -> [Responders] {
        let rows = try await client.query("""
            SELECT issuer_id, issuer_generation, count(*) FILTER (WHERE not_after > now()),
                   min(not_after) FILTER (WHERE not_after > now())
            FROM ocsp_responder_certs GROUP BY issuer_id, issuer_generation
            """, logger: logger)
        var result: [Responders] = []
        for try await (issuer, generation, valid, next) in rows.decode((String, Int, Int, Date?).self) {
            result.append(Responders(issuerID: issuer, generation: generation, valid: valid, nextExpiry: next))
        }
        return result
    }

    public func crls() async throws -> [PublishedCRL] {
        let rows = try await client.query("""
            SELECT issuer_id, issuer_generation, crl_number::text, this_update, next_update FROM crl_cache
            """, logger: logger)
        var result: [PublishedCRL] = []
        for try await (issuer, generation, number, thisUpdate, nextUpdate) in rows.decode((String, Int, String, Date, Date).self) {
            result.append(PublishedCRL(issuerID: issuer, generation: generation, crlNumber: number, thisUpdate: thisUpdate,
                                       nextUpdate: nextUpdate))
        }
        return result
    }

    /// The latest CRL generation attempt of each issuer generation.
    public func lastCRLAttempts() async throws -> [LastAttempt] {
        let rows = try await client.query("""
            SELECT DISTINCT ON (issuer_id, issuer_generation) issuer_id, issuer_generation, succeeded, started_at, error
            FROM crl_generation_events ORDER BY issuer_id, issuer_generation, id DESC
            """, logger: logger)
        var result: [LastAttempt] = []
        for try await (issuer, generation, succeeded, startedAt, error) in rows.decode((String, Int?, Bool, Date, String?).self) {
            result.append(LastAttempt(issuerID: issuer, generation: generation, succeeded: succeeded, startedAt: startedAt, error: error))
        }
        return result
    }
}
