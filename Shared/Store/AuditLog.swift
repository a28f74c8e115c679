import Foundation
import Logging
import PostgresNIO

/// One entry of the append-only audit trail.
public struct AuditRecord: Sendable {
    public enum Outcome: String, Sendable { case success, failure, denied }

    public var service: String
    public var actor: String
    public var action: String
    public var outcome: Outcome
    public var targetType: String?
    public var targetID: String?
    public var errorCode: String?
    public var details: [String: String]

    public init(
        service: String, actor: String, action: String, outcome: Outcome,
        targetType: String? = nil, targetID: String? = nil, errorCode: String? = nil,
        details: [String: String] = [:]
    ) {
        self.service = service
        self.actor = actor
        self.action = action
        self.outcome = outcome
        self.targetType = targetType
        self.targetID = targetID
        self.errorCode = errorCode
        self.details = details
    }
}

/// The append-only audit trail. An instance writes events that stand alone
/// (refusals, and successes whose change committed elsewhere); the static
/// `record(_:on:logger:)` writes inside the caller's transaction.
public struct AuditLog: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Appends `record` on a pooled connection of its own.
    public func record(_ record: AuditRecord) async throws {
        let logger = self.logger
        try await client.withConnection { try await Self.record(record, on: $0, logger: logger) }
    }

    /// Appends `record`, inside the caller's transaction when there is one,
    /// so the audit entry commits or rolls back with the change it describes.
    public static func record(_ record: AuditRecord, on connection: PostgresConnection, logger: Logger) async throws {
        let details = String(decoding: try JSONEncoder().encode(record.details), as: UTF8.self)
        try await connection.query("""
            INSERT INTO audit_events (service, actor, action, outcome, target_type, target_id, error_code, details)
            VALUES (\(record.service), \(record.actor), \(record.action), \(record.outcome.rawValue),
                    \(record.targetType), \(record.targetID), \(record.errorCode), \(details)::jsonb)
            """, logger: logger)
    }
}

/// An audit event as read back.
public struct AuditEventRecord: Sendable {
    public var id: Int64
    public var occurredAt: Date
    public var service: String
    public var actor: String
    public var action: String
    public var outcome: String
    public var targetType: String?
    public var targetID: String?
    public var errorCode: String?
    public var detailsJSON: String
    public var chainSeq: Int64?
    public var chainHash: [UInt8]?
}

extension AuditLog {
    /// Newest first; `beforeID` continues a previous page.
    public static func list(
        client: DatabaseClient, targetID: String?, action: String?, limit: Int, beforeID: Int64?, logger: Logger
    ) async throws -> [AuditEventRecord] {
        let rows = try await client.query("""
            SELECT id, occurred_at, service, actor, action, outcome, target_type, target_id, error_code, details::text,
                   chain_seq, chain_hash
            FROM audit_events
            WHERE (\(targetID)::text IS NULL OR target_id = \(targetID))
              AND (\(action)::text IS NULL OR action = \(action))
              AND (\(beforeID)::bigint IS NULL OR id < \(beforeID))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        var result: [AuditEventRecord] = []
        for try await (id, at, service, actor, action, outcome, targetType, targetID, errorCode, details, seq, hash)
            in rows.decode((Int64, Date, String, String, String, String, String?, String?, String?, String, Int64?, ByteBuffer?).self) {
            result.append(AuditEventRecord(id: id, occurredAt: at, service: service, actor: actor, action: action,
                                           outcome: outcome, targetType: targetType, targetID: targetID,
                                           errorCode: errorCode, detailsJSON: details,
                                           chainSeq: seq, chainHash: hash.map { Array(buffer: $0) }))
        }
        return result
    }
}
