import Foundation
import Logging
import PostgresNIO

/// A delegated responder certificate (runbook table `ocsp_responder_certs`),
/// one per replica key: `key_id` is the SHA-256 hex of the public key.
public struct OCSPResponderRecord: Sendable, Equatable {
    public var issuerID: String
    public var generation: Int
    public var keyID: String
    public var subject: String
    public var serialHex: String
    public var certificateDER: [UInt8]
    public var keyPath: String
    public var notBefore: Date
    public var notAfter: Date

    public init(issuerID: String, generation: Int, keyID: String, subject: String, serialHex: String,
                certificateDER: [UInt8], keyPath: String, notBefore: Date, notAfter: Date) {
        self.issuerID = issuerID
        self.generation = generation
        self.keyID = keyID
        self.subject = subject
        self.serialHex = serialHex
        self.certificateDER = certificateDER
        self.keyPath = keyPath
        self.notBefore = notBefore
        self.notAfter = notAfter
    }
}

public struct OCSPResponderStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The newest certificate for exactly this key.
    public func find(issuerID: String, generation: Int, keyID: String) async throws -> OCSPResponderRecord? {
        let rows = try await client.query("""
            SELECT cert_subject, serial_number, certificate_der, key_path, not_before, not_after
            FROM ocsp_responder_certs
            WHERE issuer_id = \(issuerID) AND issuer_generation = \(generation) AND key_id = \(keyID)
            """, logger: logger)
        for try await (subject, serial, der, path, notBefore, notAfter)
            in rows.decode((String, String, ByteBuffer, String, Date, Date).self) {
            return OCSPResponderRecord(issuerID: issuerID, generation: generation, keyID: keyID, subject: subject,
                                       serialHex: serial, certificateDER: Array(buffer: der), keyPath: path,
                                       notBefore: notBefore, notAfter: notAfter)
        }
        return nil
    }

    /// Records a new responder certificate (replacing an older one for the same key),
    /// and drops rows whose certificates have expired.
    public func save(_ r: OCSPResponderRecord) async throws {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO ocsp_responder_certs (issuer_id, issuer_generation, key_id, cert_subject, serial_number,
                    certificate_der, key_path, not_before, not_after)
                VALUES (\(r.issuerID), \(r.generation), \(r.keyID), \(r.subject), \(r.serialHex),
                    \(ByteBuffer(bytes: r.certificateDER)), \(r.keyPath), \(r.notBefore), \(r.notAfter))
                ON CONFLICT (issuer_id, issuer_generation, key_id) DO UPDATE SET
                    cert_subject = EXCLUDED.cert_subject, serial_number = EXCLUDED.serial_number,
                    certificate_der = EXCLUDED.certificate_der, key_path = EXCLUDED.key_path,
                    not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after, created_at = now()
                """, logger: logger)
            try await connection.query("DELETE FROM ocsp_responder_certs WHERE not_after < now()", logger: logger)
        }
    }
}
