import Logging
import PostgresNIO

/// One change in the revocation log.
public struct OCSPRevocationChange: Sendable {
    public var issuerID: String
    public var serialHex: String
    public var seq: Int64
}

extension OCSPStore {
    /// Revocation changes with change_seq above `after`, oldest first.
    public func revocationChanges(after: Int64, limit: Int = 1000) async throws -> [OCSPRevocationChange] {
        let rows = try await client.query("""
            SELECT issuer_id, serial_hex, change_seq FROM certificate_revocations
            WHERE change_seq > \(after) ORDER BY change_seq LIMIT \(limit)
            """, logger: logger)
        var result: [OCSPRevocationChange] = []
        for try await (issuer, serial, seq) in rows.decode((String, String, Int64).self) {
            result.append(OCSPRevocationChange(issuerID: issuer, serialHex: serial, seq: seq))
        }
        return result
    }
}
