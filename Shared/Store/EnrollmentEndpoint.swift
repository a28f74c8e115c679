import Foundation
import Logging
import PostgresNIO

/// The text that names a SCEP endpoint or EST label in `certificates.enrollment_endpoint` and in an
/// endpoint's `accept_renewals_from`: "scep:<name>" or "est:<label>" (migration 0010 checks the form).
public enum EnrollmentEndpoint {
    public static func scep(_ name: String) -> String { "scep:\(name)" }
    public static func est(_ label: String) -> String { "est:\(label)" }

    /// Whether `text` has the form the database accepts.
    public static func isValid(_ text: String) -> Bool {
        text.range(of: "^(scep|est):[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil
    }

    /// At most this many entries in one `accept_renewals_from`.
    public static let maximumAccepted = 32
}

/// Writes `accept_renewals_from` of a SCEP endpoint or EST label (admin only: it is policy).
enum EnrollmentRenewalSources {
    enum Table { case scep, est }

    static func set(table: Table, name: String, _ endpoints: [String], audit: AuditRecord, client: DatabaseClient,
                    logger: Logger) async throws {
        let query: PostgresQuery = switch table {
        case .scep:
            "UPDATE scep_profiles SET accept_renewals_from = \(endpoints), updated_at = now() WHERE name = \(name) RETURNING name"
        case .est:
            "UPDATE est_labels SET accept_renewals_from = \(endpoints), updated_at = now() WHERE name = \(name) RETURNING name"
        }
        try await client.transaction(logger: logger) { connection in
            var updated = false
            for try await _ in try await connection.query(query, logger: logger).decode(String.self) { updated = true }
            guard updated else { throw EnrollmentStoreError.notFound(name) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
    }
}
