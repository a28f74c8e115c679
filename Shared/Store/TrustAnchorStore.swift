import Foundation
import Logging
import PostgresNIO

public struct TrustAnchorRecord: Sendable, Equatable {
    public var name: String
    public var purpose: String
    public var path: String
    public var sha256: String?
    public var certificateCount: Int?
    public var lastReloadError: String?

    public init(name: String, purpose: String, path: String, sha256: String? = nil, certificateCount: Int? = nil,
                lastReloadError: String? = nil) {
        self.name = name
        self.purpose = purpose
        self.path = path
        self.sha256 = sha256
        self.certificateCount = certificateCount
        self.lastReloadError = lastReloadError
    }
}

/// One replica's answer to a reload request.
public struct TrustAnchorReloadResult: Sendable, Equatable {
    public var replica: String
    public var ok: Bool
    public var errorCode: String?
    public var errorMessage: String?
    public var certificateCount: Int?
    public var sha256: String?

    public init(replica: String, ok: Bool, errorCode: String?, errorMessage: String?, certificateCount: Int?, sha256: String?) {
        self.replica = replica
        self.ok = ok
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.certificateCount = certificateCount
        self.sha256 = sha256
    }
}

/// Trust bundles (table trust_anchors) and the reload requests that reach
/// every enrollment replica through NOTIFY (payload "<reload id>:<name>").
public struct TrustAnchorStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func list() async throws -> [TrustAnchorRecord] {
        let rows = try await client.query("""
            SELECT name, purpose, path, sha256, certificate_count, last_reload_error FROM trust_anchors ORDER BY name
            """, logger: logger)
        var result: [TrustAnchorRecord] = []
        for try await (name, purpose, path, sha, count, error) in rows.decode((String, String, String, String?, Int?, String?).self) {
            result.append(TrustAnchorRecord(name: name, purpose: purpose, path: path, sha256: sha, certificateCount: count,
                                            lastReloadError: error))
        }
        return result
    }

    public func get(_ name: String) async throws -> TrustAnchorRecord? {
        try await list().first { $0.name == name }
    }

    public func create(_ anchor: TrustAnchorRecord, audit: AuditRecord) async throws {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO trust_anchors (name, purpose, path) VALUES (\(anchor.name), \(anchor.purpose), \(anchor.path))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """, logger: logger)
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            guard inserted else { throw EnrollmentStoreError.exists(anchor.name) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
    }

    /// What a replica loaded (or why it could not), for the listing.
    public func recordLoad(name: String, sha256: String?, certificateCount: Int?, earliestNotAfter: Date?, error: String?) async throws {
        try await client.query("""
            UPDATE trust_anchors SET last_reload_at = now(), last_reload_error = \(error), updated_at = now(),
                sha256 = coalesce(\(sha256), sha256), certificate_count = coalesce(\(certificateCount), certificate_count),
                earliest_not_after = coalesce(\(earliestNotAfter), earliest_not_after)
            WHERE name = \(name)
            """, logger: logger)
    }

    /// Records the request and notifies every replica, in one transaction.
    public func requestReload(name: String, requestedBy: String, audit: AuditRecord) async throws -> Int64 {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO trust_anchor_reloads (name, requested_by) VALUES (\(name), \(requestedBy)) RETURNING id
                """, logger: logger)
            var id: Int64?
            for try await value in rows.decode(Int64.self) { id = value }
            guard let id else { throw EnrollmentStoreError.notFound(name) }
            try await connection.query("SELECT pg_notify(\(NotifyChannel.trustAnchorReload), \("\(id):\(name)"))", logger: logger)
            var audit = audit
            audit.details["reload_id"] = "\(id)"
            try await AuditLog.record(audit, on: connection, logger: logger)
            return id
        }
    }

    public func report(reloadID: Int64, result r: TrustAnchorReloadResult) async throws {
        try await client.query("""
            INSERT INTO trust_anchor_reload_results (reload_id, replica, ok, error_code, error_message, certificate_count, sha256)
            VALUES (\(reloadID), \(r.replica), \(r.ok), \(r.errorCode), \(r.errorMessage), \(r.certificateCount), \(r.sha256))
            ON CONFLICT (reload_id, replica) DO NOTHING
            """, logger: logger)
    }

    public func results(reloadID: Int64) async throws -> [TrustAnchorReloadResult] {
        let rows = try await client.query("""
            SELECT replica, ok, error_code, error_message, certificate_count, sha256
            FROM trust_anchor_reload_results WHERE reload_id = \(reloadID) ORDER BY replica
            """, logger: logger)
        var result: [TrustAnchorReloadResult] = []
        for try await (replica, ok, code, message, count, sha) in rows.decode((String, Bool, String?, String?, Int?, String?).self) {
            result.append(TrustAnchorReloadResult(replica: replica, ok: ok, errorCode: code, errorMessage: message,
                                                  certificateCount: count, sha256: sha))
        }
        return result
    }
}
