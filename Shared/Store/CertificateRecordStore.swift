import Foundation
import Logging
import PostgresNIO

public struct RevocationRecord: Sendable, Equatable {
    public var reasonCode: Int
    public var revokedAt: Date
    public var invalidityDate: Date?
    public var revokedBy: String
}

public struct CertificateRecord: Sendable {
    public init(
        id: UUID, issuerID: String, issuerGeneration: Int?, serialHex: String, status: String, profileID: String?,
        subject: String, subjectAltNames: [String], notBefore: Date?, notAfter: Date?, certificateDER: [UInt8]?,
        requestedBy: String, createdAt: Date, failureReason: String?, revocation: RevocationRecord?,
        enrollmentEndpoint: String? = nil
    ) {
        self.id = id
        self.issuerID = issuerID
        self.issuerGeneration = issuerGeneration
        self.serialHex = serialHex
        self.status = status
        self.profileID = profileID
        self.subject = subject
        self.subjectAltNames = subjectAltNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.certificateDER = certificateDER
        self.requestedBy = requestedBy
        self.createdAt = createdAt
        self.failureReason = failureReason
        self.revocation = revocation
        self.enrollmentEndpoint = enrollmentEndpoint
    }

    public var id: UUID
    public var issuerID: String
    public var issuerGeneration: Int?
    public var serialHex: String
    public var status: String
    public var profileID: String?
    public var subject: String
    public var subjectAltNames: [String]
    public var notBefore: Date?
    public var notAfter: Date?
    public var certificateDER: [UInt8]?
    public var requestedBy: String
    public var createdAt: Date
    public var failureReason: String?
    public var revocation: RevocationRecord?
    /// The SCEP endpoint or EST label that issued it (`EnrollmentEndpoint`); nil for the admin API.
    public var enrollmentEndpoint: String?
}

/// A row reserved before signing: the serial is taken, nothing is signed yet.
public struct CertificateReservation: Sendable {
    public var issuerID: String
    public var issuerGeneration: Int
    public var serialHex: String
    public var profileID: String
    public var subject: String
    /// The subject Name's DER and the SHA-256 of the SubjectPublicKeyInfo DER: the signer compares the TBS with them.
    public var subjectDER: [UInt8]
    public var spkiSHA256: [UInt8]
    public var subjectAltNames: [String]
    public var notBefore: Date
    public var notAfter: Date
    public var csrDER: [UInt8]
    public var requestedBy: String
    public var source: String
    public var idempotencyKey: String?
    public var requestFingerprint: String?
    /// The SCEP endpoint or EST label issuing it (`EnrollmentEndpoint`): only its own renew it.
    public var enrollmentEndpoint: String?

    public init(
        issuerID: String, issuerGeneration: Int, serialHex: String, profileID: String, subject: String,
        subjectDER: [UInt8], spkiSHA256: [UInt8],
        subjectAltNames: [String], notBefore: Date, notAfter: Date, csrDER: [UInt8], requestedBy: String,
        source: String, idempotencyKey: String?, requestFingerprint: String?, enrollmentEndpoint: String? = nil
    ) {
        self.issuerID = issuerID
        self.issuerGeneration = issuerGeneration
        self.serialHex = serialHex
        self.profileID = profileID
        self.subject = subject
        self.subjectDER = subjectDER
        self.spkiSHA256 = spkiSHA256
        self.subjectAltNames = subjectAltNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.csrDER = csrDER
        self.requestedBy = requestedBy
        self.source = source
        self.idempotencyKey = idempotencyKey
        self.requestFingerprint = requestFingerprint
        self.enrollmentEndpoint = enrollmentEndpoint
    }
}

public struct CertificateFilter: Sendable {
    public var status: String?
    public var issuerID: String?
    public var text: String?
    public var serialHex: String?
    public var expiringBefore: Date?
    public var profileID: String?
    /// Reserved (issued) before this time.
    public var issuedBefore: Date?
    public var limit: Int = 100
    /// Keyset cursor: the id of the last row of the previous page.
    public var after: UUID?

    public init() {}
}

public enum ReservationOutcome: Sendable {
    case reserved(UUID, createdAt: Date)
    /// The serial is taken (astronomically unlikely with 159 random bits): pick another.
    case serialTaken
    /// The same actor already used this idempotency key.
    case idempotent(existing: UUID, sameRequest: Bool)
}

public struct CertificateRecordStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func reserve(_ reservation: CertificateReservation) async throws -> ReservationOutcome {
        let r = reservation
        let rows = try await client.query("""
            INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_der,
                spki_sha256, subject_alt_names, not_before, not_after, csr_der, requested_by, request_source, idempotency_key,
                request_fingerprint, enrollment_endpoint)
            VALUES (\(r.issuerID), \(r.issuerGeneration), \(r.serialHex), 'pending', \(r.profileID), \(r.subject),
                \(ByteBuffer(bytes: r.subjectDER)), \(ByteBuffer(bytes: r.spkiSHA256)),
                \(r.subjectAltNames), \(r.notBefore), \(r.notAfter), \(ByteBuffer(bytes: r.csrDER)), \(r.requestedBy),
                \(r.source), \(r.idempotencyKey), \(r.requestFingerprint), \(r.enrollmentEndpoint))
            ON CONFLICT DO NOTHING
            RETURNING id, created_at
            """, logger: logger)
        for try await (id, createdAt) in rows.decode((UUID, Date).self) { return .reserved(id, createdAt: createdAt) }
        if let key = r.idempotencyKey {
            let existing = try await client.query("""
                SELECT id, request_fingerprint IS NOT DISTINCT FROM \(r.requestFingerprint) FROM certificates
                WHERE requested_by = \(r.requestedBy) AND idempotency_key = \(key)
                """, logger: logger)
            for try await (id, same) in existing.decode((UUID, Bool).self) { return .idempotent(existing: id, sameRequest: same) }
        }
        return .serialTaken
    }

    public func markFailed(id: UUID, reason: String) async throws {
        try await client.query("""
            UPDATE certificates SET status = 'failed', failure_reason = \(reason), updated_at = now()
            WHERE id = \(id) AND status = 'pending'
            """, logger: logger)
    }

    /// Marks reservations that never completed (signer down mid-request) as failed.
    public func failStalePending(olderThan age: Duration) async throws -> Int {
        let seconds = Double(age.components.seconds)
        let rows = try await client.query("""
            UPDATE certificates SET status = 'failed', failure_reason = 'signing did not complete', updated_at = now()
            WHERE status = 'pending' AND created_at < now() - make_interval(secs => \(seconds))
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows.decode(UUID.self) { count += 1 }
        return count
    }

    public func get(_ id: UUID) async throws -> CertificateRecord? {
        var filter = CertificateFilter()
        filter.limit = 1
        return try await query(filter, id: id).first
    }

    /// The certificate with `serialHex` of `issuerID` (unique per issuer), whatever its status.
    public func get(issuerID: String, serialHex: String) async throws -> CertificateRecord? {
        var filter = CertificateFilter()
        filter.issuerID = issuerID
        filter.serialHex = serialHex
        filter.limit = 1
        return try await query(filter, id: nil).first
    }

    public func list(_ filter: CertificateFilter) async throws -> [CertificateRecord] {
        try await query(filter, id: nil)
    }

    private func query(_ f: CertificateFilter, id: UUID?) async throws -> [CertificateRecord] {
        let pattern = f.text.map { "%" + $0.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" }
        let rows = try await client.query("""
            SELECT c.id, c.issuer_id, c.issuer_generation, c.serial_hex, c.status, c.profile_id, c.subject,
                   c.subject_alt_names, c.not_before, c.not_after, c.certificate_der, c.requested_by, c.created_at,
                   c.failure_reason, r.reason_code, r.revoked_at, r.invalidity_date, r.revoked_by, c.enrollment_endpoint
            FROM certificates c
            LEFT JOIN certificate_revocations r ON r.certificate_id = c.id AND r.hold_released_at IS NULL
            WHERE (\(id)::uuid IS NULL OR c.id = \(id))
              AND (\(f.status)::text IS NULL OR c.status = \(f.status))
              AND (\(f.issuerID)::text IS NULL OR c.issuer_id = \(f.issuerID))
              AND (\(f.serialHex)::text IS NULL OR c.serial_hex = \(f.serialHex))
              AND (\(f.expiringBefore)::timestamptz IS NULL OR c.not_after < \(f.expiringBefore))
              AND (\(f.profileID)::text IS NULL OR c.profile_id = \(f.profileID))
              AND (\(f.issuedBefore)::timestamptz IS NULL OR c.created_at < \(f.issuedBefore))
              AND (\(pattern)::text IS NULL OR c.subject ILIKE \(pattern)
                   OR EXISTS (SELECT 1 FROM unnest(c.subject_alt_names) san WHERE san ILIKE \(pattern)))
              AND (\(f.after)::uuid IS NULL OR (c.created_at, c.id) < (SELECT created_at, id FROM certificates WHERE id = \(f.after)))
            ORDER BY c.created_at DESC, c.id DESC
            LIMIT \(f.limit)
            """, logger: logger)
        var result: [CertificateRecord] = []
        for try await (id, issuerID, generation, serial, status, profileID, subject, sans, notBefore, notAfter, der,
                       requestedBy, createdAt, failure, reasonCode, revokedAt, invalidityDate, revokedBy, endpoint)
            in rows.decode((UUID, String, Int?, String, String, String?, String, [String], Date?, Date?, ByteBuffer?,
                            String, Date, String?, Int?, Date?, Date?, String?, String?).self) {
            var revocation: RevocationRecord?
            if let reasonCode, let revokedAt, let revokedBy {
                revocation = RevocationRecord(
                    reasonCode: reasonCode, revokedAt: revokedAt, invalidityDate: invalidityDate, revokedBy: revokedBy)
            }
            result.append(CertificateRecord(
                id: id, issuerID: issuerID, issuerGeneration: generation, serialHex: serial, status: status,
                profileID: profileID, subject: subject, subjectAltNames: sans, notBefore: notBefore, notAfter: notAfter,
                certificateDER: der.map { Array(buffer: $0) }, requestedBy: requestedBy, createdAt: createdAt,
                failureReason: failure, revocation: revocation, enrollmentEndpoint: endpoint))
        }
        return result
    }
}
