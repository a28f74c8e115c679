import Foundation
import Logging
import PostgresNIO

/// What the web console's dashboard shows (docs/console.md), read in a few aggregate queries.
public struct ConsoleDashboard: Sendable {
    public struct Generation: Sendable {
        public var issuerID: String
        public var displayName: String
        public var generation: Int
        public var status: String
        public var notAfter: Date?
        public var crlNumber: String?
        public var crlThisUpdate: Date?
        public var crlNextUpdate: Date?
        public var crlGeneratedAt: Date?
    }

    public struct CRLFailure: Sendable {
        public var issuerID: String
        public var generation: Int?
        public var startedAt: Date
        public var error: String
    }

    public struct Responder: Sendable {
        public var issuerID: String
        public var generation: Int
        public var keyID: String
        public var serialHex: String
        public var notAfter: Date
    }

    public var generations: [Generation] = []
    public var crlFailures: [CRLFailure] = []
    public var responders: [Responder] = []
    public var pendingApprovals = 0
    public var issuedLastDay = 0
    public var revokedLastDay = 0
    public var failedLastDay = 0
}

public struct ConsoleDashboardStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func load() async throws -> ConsoleDashboard {
        var result = ConsoleDashboard()
        for try await (issuer, name, generation, status, notAfter, number, thisUpdate, nextUpdate, generatedAt) in try await client.query("""
            SELECT g.issuer_id, i.display_name, g.generation, g.status, g.not_after,
                   c.crl_number::text, c.this_update, c.next_update, c.generated_at
            FROM issuer_generations g JOIN issuers i ON i.id = g.issuer_id
            LEFT JOIN crl_cache c ON c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
            ORDER BY g.issuer_id, g.generation
            """, logger: logger).decode((String, String, Int, String, Date?, String?, Date?, Date?, Date?).self) {
            result.generations.append(.init(issuerID: issuer, displayName: name, generation: generation, status: status,
                                            notAfter: notAfter, crlNumber: number, crlThisUpdate: thisUpdate,
                                            crlNextUpdate: nextUpdate, crlGeneratedAt: generatedAt))
        }
        for try await (issuer, generation, startedAt, error) in try await client.query("""
            SELECT issuer_id, issuer_generation, started_at, coalesce(error, 'failed')
            FROM crl_generation_events WHERE NOT succeeded AND started_at > now() - interval '7 days'
            ORDER BY started_at DESC LIMIT 20
            """, logger: logger).decode((String, Int?, Date, String).self) {
            result.crlFailures.append(.init(issuerID: issuer, generation: generation, startedAt: startedAt, error: error))
        }
        for try await (issuer, generation, keyID, serial, notAfter) in try await client.query("""
            SELECT issuer_id, issuer_generation, key_id, serial_number, not_after
            FROM ocsp_responder_certs WHERE not_after > now() - interval '30 days'
            ORDER BY issuer_id, issuer_generation, not_after DESC LIMIT 100
            """, logger: logger).decode((String, Int, String, String, Date).self) {
            result.responders.append(.init(issuerID: issuer, generation: generation, keyID: keyID, serialHex: serial, notAfter: notAfter))
        }
        for try await (pending, issued, revoked, failed) in try await client.query("""
            SELECT (SELECT count(*) FROM enrollment_requests WHERE status = 'pending'),
                   (SELECT count(*) FROM certificates WHERE status IN ('issued', 'revoked') AND created_at > now() - interval '1 day'),
                   (SELECT count(*) FROM certificate_revocations WHERE revoked_at > now() - interval '1 day'),
                   (SELECT count(*) FROM certificates WHERE status = 'failed' AND created_at > now() - interval '1 day')
            """, logger: logger).decode((Int, Int, Int, Int).self) {
            result.pendingApprovals = pending
            result.issuedLastDay = issued
            result.revokedLastDay = revoked
            result.failedLastDay = failed
        }
        return result
    }
}
