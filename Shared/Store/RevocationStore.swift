import Foundation
import Logging
import PostgresNIO

public enum RevocationStoreError: Error, Equatable {
    case notFound
    /// Pending or failed certificates, or removeFromCRL on a certificate not on hold.
    case notRevocable(String)
}

public struct RevocationRequest: Sendable {
    public var certificateID: UUID
    public var reasonCode: Int
    public var invalidityDate: Date?
    public var actor: String
    public var service: String

    public init(certificateID: UUID, reasonCode: Int, invalidityDate: Date?, actor: String, service: String) {
        self.certificateID = certificateID
        self.reasonCode = reasonCode
        self.invalidityDate = invalidityDate
        self.actor = actor
        self.service = service
    }
}

/// Revocation in one transaction: the revocation row, the certificate's
/// status, the audit event and the NOTIFY that tells every OCSP replica and
/// CRL publisher (sent on commit, never on rollback).
public struct RevocationStore: Sendable {
    static let certificateHold = 6
    static let removeFromCRL = 8

    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Returns true when something changed; false when the request repeats the
    /// current state (revoking twice is idempotent: no second event).
    public func revoke(_ request: RevocationRequest) async throws -> Bool {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                SELECT c.status, c.issuer_id, c.serial_hex, r.reason_code, r.certificate_id IS NOT NULL AND r.hold_released_at IS NULL
                FROM certificates c LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
                WHERE c.id = \(request.certificateID) FOR UPDATE OF c
                """, logger: logger)
            var found: (String, String, String, Int?, Bool?)?
            for try await row in rows.decode((String, String, String, Int?, Bool?).self) { found = row }
            guard let (status, issuerID, serial, existingReason, existingActive) = found else {
                throw RevocationStoreError.notFound
            }
            guard status == "issued" || status == "revoked" else {
                throw RevocationStoreError.notRevocable("certificate is \(status), not issued")
            }
            let onHold = existingActive == true && existingReason == Self.certificateHold
            let action: String
            if request.reasonCode == Self.removeFromCRL {
                guard onHold else { throw RevocationStoreError.notRevocable("removeFromCRL applies only to a certificate on hold") }
                try await connection.query("""
                    UPDATE certificate_revocations SET hold_released_at = now(),
                        change_seq = nextval('certificate_revocations_change_seq')
                    WHERE certificate_id = \(request.certificateID)
                    """, logger: logger)
                try await connection.query(
                    "UPDATE certificates SET status = 'issued', updated_at = now() WHERE id = \(request.certificateID)",
                    logger: logger)
                action = "certificate.hold_release"
            } else if existingActive == true {
                // Already revoked: same state is a no-op; a hold may become a permanent revocation.
                guard onHold, request.reasonCode != Self.certificateHold else { return false }
                try await connection.query("""
                    UPDATE certificate_revocations SET reason_code = \(request.reasonCode),
                        invalidity_date = COALESCE(\(request.invalidityDate), invalidity_date),
                        revoked_by = \(request.actor), change_seq = nextval('certificate_revocations_change_seq')
                    WHERE certificate_id = \(request.certificateID)
                    """, logger: logger)
                action = "certificate.revoke"
            } else {
                try await connection.query("""
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at,
                        invalidity_date, revoked_by)
                    VALUES (\(request.certificateID), \(issuerID), \(serial), \(request.reasonCode), now(),
                        \(request.invalidityDate), \(request.actor))
                    ON CONFLICT (certificate_id) DO UPDATE SET reason_code = EXCLUDED.reason_code,
                        revoked_at = EXCLUDED.revoked_at, invalidity_date = EXCLUDED.invalidity_date,
                        revoked_by = EXCLUDED.revoked_by, hold_released_at = NULL,
                        change_seq = nextval('certificate_revocations_change_seq')
                    """, logger: logger)
                try await connection.query(
                    "UPDATE certificates SET status = 'revoked', updated_at = now() WHERE id = \(request.certificateID)",
                    logger: logger)
                action = "certificate.revoke"
            }
            try await AuditLog.record(AuditRecord(
                service: request.service, actor: request.actor, action: action, outcome: .success,
                targetType: "certificate", targetID: request.certificateID.uuidString.lowercased(),
                details: ["issuer_id": issuerID, "serial_hex": serial, "reason_code": "\(request.reasonCode)"]),
                on: connection, logger: logger)
            try await Notifier.notify(NotifyChannel.revocations, payload: "\(issuerID):\(serial)", on: connection, logger: logger)
            return true
        }
    }
}
