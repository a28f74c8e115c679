import Foundation
import Logging
import PostgresNIO

/// A SCEP or EST request held for an operator's decision (table enrollment_requests).
public struct EnrollmentRequestRecord: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case pending, issued, rejected, failed
    }

    public var id: UUID
    /// `scep` or `est`.
    public var protocolName: String
    /// SCEP profile or EST label name.
    public var endpoint: String
    /// PKCSReq, RenewalReq, simpleenroll, simplereenroll.
    public var operation: String
    public var issuerID: String
    public var profileID: String
    public var validityDays: Int?
    public var transactionID: String?
    public var senderNonce: [UInt8]?
    public var csrDER: [UInt8]
    public var csrSHA256: [UInt8]
    public var subject: String
    public var subjectAltNames: [String]
    public var requester: String
    public var requesterCertificateDER: [UInt8]?
    public var remote: String?
    public var status: Status
    public var certificateID: UUID?
    public var decidedBy: String?
    public var decidedAt: Date?
    public var reason: String?
    public var createdAt: Date

    public init(
        id: UUID = UUID(), protocolName: String, endpoint: String, operation: String, issuerID: String, profileID: String,
        validityDays: Int?, transactionID: String?, senderNonce: [UInt8]?, csrDER: [UInt8], csrSHA256: [UInt8],
        subject: String, subjectAltNames: [String], requester: String, requesterCertificateDER: [UInt8]?, remote: String?,
        status: Status = .pending, certificateID: UUID? = nil, decidedBy: String? = nil, decidedAt: Date? = nil,
        reason: String? = nil, createdAt: Date = Date()
    ) {
        self.id = id
        self.protocolName = protocolName
        self.endpoint = endpoint
        self.operation = operation
        self.issuerID = issuerID
        self.profileID = profileID
        self.validityDays = validityDays
        self.transactionID = transactionID
        self.senderNonce = senderNonce
        self.csrDER = csrDER
        self.csrSHA256 = csrSHA256
        self.subject = subject
        self.subjectAltNames = subjectAltNames
        self.requester = requester
        self.requesterCertificateDER = requesterCertificateDER
        self.remote = remote
        self.status = status
        self.certificateID = certificateID
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.reason = reason
        self.createdAt = createdAt
    }
}

public enum EnrollmentRequestError: Error, Equatable {
    case notFound(UUID)
    /// Only a pending request can be approved or rejected.
    case notPending(UUID, EnrollmentRequestRecord.Status)
}

/// What an approval's issuance came to.
public enum EnrollmentApprovalOutcome: Sendable {
    case issued(certificateID: UUID)
    /// Issuance refused the request for good (e.g. the profile changed): it becomes `failed`.
    case failed(code: String, reason: String)
}

/// Filter of `EnrollmentRequestStore.list`.
public struct EnrollmentRequestFilter: Sendable {
    public var status: EnrollmentRequestRecord.Status?
    public var protocolName: String?
    public var endpoint: String?
    public var limit = 100
    /// Continue after this request (newest first).
    public var after: UUID?

    public init() {}
}

/// Requests held for approval. Creation and every decision append their audit
/// event in the same transaction; a decision locks the row, so two operators
/// deciding at once cannot both act (the second gets `notPending`).
public struct EnrollmentRequestStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Stores a pending request unless an equal one is open (same SCEP profile and
    /// transactionID, or same EST label, CSR and actor): then that one is returned
    /// and `created` is false. The audit event gets `request_id` added.
    public func create(_ r: EnrollmentRequestRecord, audit: AuditRecord) async throws -> (record: EnrollmentRequestRecord, created: Bool) {
        let logger = self.logger
        let inserted: UUID? = try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO enrollment_requests (id, protocol, endpoint, operation, issuer_id, profile_id, validity_days,
                    transaction_id, sender_nonce, csr_der, csr_sha256, subject, subject_alt_names, requester,
                    requester_certificate_der, remote)
                VALUES (\(r.id), \(r.protocolName), \(r.endpoint), \(r.operation), \(r.issuerID), \(r.profileID), \(r.validityDays),
                    \(r.transactionID), \(r.senderNonce.map { ByteBuffer(bytes: $0) }), \(ByteBuffer(bytes: r.csrDER)),
                    \(ByteBuffer(bytes: r.csrSHA256)), \(r.subject), \(r.subjectAltNames), \(r.requester),
                    \(r.requesterCertificateDER.map { ByteBuffer(bytes: $0) }), \(r.remote))
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: logger)
            var id: UUID?
            for try await value in rows.decode(UUID.self) { id = value }
            guard let id else { return nil }
            var audit = audit
            audit.targetType = "enrollment_request"
            audit.targetID = id.uuidString.lowercased()
            try await AuditLog.record(audit, on: connection, logger: logger)
            return id
        }
        if let inserted, let record = try await get(inserted) { return (record, true) }
        let existing = r.protocolName == "scep"
            ? try await latestSCEP(endpoint: r.endpoint, transactionID: r.transactionID ?? "")
            : try await latestEST(endpoint: r.endpoint, csrSHA256: r.csrSHA256, requester: r.requester)
        guard let existing else { throw EnrollmentRequestError.notFound(r.id) }
        return (existing, false)
    }

    public func get(_ id: UUID) async throws -> EnrollmentRequestRecord? {
        try await fetch("WHERE id = $1", [id]).first
    }

    /// The newest request of this SCEP transaction on `endpoint`.
    public func latestSCEP(endpoint: String, transactionID: String) async throws -> EnrollmentRequestRecord? {
        try await fetch("WHERE protocol = 'scep' AND endpoint = $1 AND transaction_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
                        [endpoint, transactionID]).first
    }

    /// The newest EST request with this CSR from this actor on `endpoint`.
    public func latestEST(endpoint: String, csrSHA256: [UInt8], requester: String) async throws -> EnrollmentRequestRecord? {
        try await fetch("""
            WHERE protocol = 'est' AND endpoint = $1 AND csr_sha256 = $2 AND requester = $3
            ORDER BY created_at DESC, id DESC LIMIT 1
            """, [endpoint, ByteBuffer(bytes: csrSHA256), requester]).first
    }

    /// Newest first.
    public func list(_ f: EnrollmentRequestFilter) async throws -> [EnrollmentRequestRecord] {
        try await fetch("""
            WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR protocol = $2) AND ($3::text IS NULL OR endpoint = $3)
              AND ($4::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM enrollment_requests WHERE id = $4))
            ORDER BY created_at DESC, id DESC LIMIT $5
            """, [f.status?.rawValue, f.protocolName, f.endpoint, f.after, f.limit])
    }

    /// Approves a pending request: with the row locked, `issue` issues the certificate
    /// (a throw leaves the request pending, e.g. signer unreachable); the outcome and
    /// `audit(outcome)` are written in the same transaction.
    public func approve(
        _ id: UUID, actor: String,
        audit: @escaping @Sendable (EnrollmentRequestRecord, EnrollmentApprovalOutcome) -> AuditRecord,
        issue: @escaping @Sendable (EnrollmentRequestRecord) async throws -> EnrollmentApprovalOutcome
    ) async throws -> EnrollmentRequestRecord {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let record = try await Self.lockPending(id, on: connection, logger: logger)
            let outcome = try await issue(record)
            switch outcome {
            case .issued(let certificateID):
                try await connection.query("""
                    UPDATE enrollment_requests SET status = 'issued', certificate_id = \(certificateID),
                        decided_by = \(actor), decided_at = now() WHERE id = \(id)
                    """, logger: logger)
            case .failed(let code, let reason):
                try await connection.query("""
                    UPDATE enrollment_requests SET status = 'failed', reason = \(code + ": " + reason),
                        decided_by = \(actor), decided_at = now() WHERE id = \(id)
                    """, logger: logger)
            }
            try await AuditLog.record(audit(record, outcome), on: connection, logger: logger)
        }
        guard let record = try await get(id) else { throw EnrollmentRequestError.notFound(id) }
        return record
    }

    /// Rejects a pending request with `reason`, audited in the same transaction.
    public func reject(_ id: UUID, actor: String, reason: String, audit: AuditRecord) async throws -> EnrollmentRequestRecord {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            _ = try await Self.lockPending(id, on: connection, logger: logger)
            try await connection.query("""
                UPDATE enrollment_requests SET status = 'rejected', reason = \(reason), decided_by = \(actor), decided_at = now()
                WHERE id = \(id)
                """, logger: logger)
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
        guard let record = try await get(id) else { throw EnrollmentRequestError.notFound(id) }
        return record
    }

    private static func lockPending(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> EnrollmentRequestRecord {
        let rows = try await connection.query(PostgresQuery(
            unsafeSQL: selectColumns + " WHERE id = $1 FOR UPDATE", binds: try binds([id])), logger: logger)
        var found: EnrollmentRequestRecord?
        for try await row in rows { found = try decode(row) }
        guard let found else { throw EnrollmentRequestError.notFound(id) }
        guard found.status == .pending else { throw EnrollmentRequestError.notPending(id, found.status) }
        return found
    }

    private static let selectColumns = """
        SELECT id, protocol, endpoint, operation, issuer_id, profile_id, validity_days, transaction_id, sender_nonce,
               csr_der, csr_sha256, subject, subject_alt_names, requester, requester_certificate_der, remote, status,
               certificate_id, decided_by, decided_at, reason, created_at
        FROM enrollment_requests
        """

    private func fetch(_ clause: String, _ values: [(any PostgresEncodable & Sendable)?]) async throws -> [EnrollmentRequestRecord] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: Self.selectColumns + " " + clause, binds: try Self.binds(values)),
                                          logger: logger)
        var result: [EnrollmentRequestRecord] = []
        for try await row in rows { result.append(try Self.decode(row)) }
        return result
    }

    private static func binds(_ values: [(any PostgresEncodable & Sendable)?]) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values {
            if let value { try bindings.append(value, context: .default) } else { bindings.appendNull() }
        }
        return bindings
    }

    private static func decode(_ row: PostgresRow) throws -> EnrollmentRequestRecord {
        let (id, proto, endpoint, operation, issuer, profile, days, transaction, nonce, csr, csrHash, subject, sans, requester,
             requesterCert, remote, status, certificateID, decidedBy, decidedAt, reason, createdAt)
            = try row.decode((UUID, String, String, String, String, String, Int?, String?, ByteBuffer?, ByteBuffer, ByteBuffer,
                              String, [String], String, ByteBuffer?, String?, String, UUID?, String?, Date?, String?, Date).self)
        return EnrollmentRequestRecord(
            id: id, protocolName: proto, endpoint: endpoint, operation: operation, issuerID: issuer, profileID: profile,
            validityDays: days, transactionID: transaction, senderNonce: nonce.map { Array($0.readableBytesView) },
            csrDER: Array(csr.readableBytesView), csrSHA256: Array(csrHash.readableBytesView), subject: subject,
            subjectAltNames: sans, requester: requester, requesterCertificateDER: requesterCert.map { Array($0.readableBytesView) },
            remote: remote, status: EnrollmentRequestRecord.Status(rawValue: status) ?? .failed, certificateID: certificateID,
            decidedBy: decidedBy, decidedAt: decidedAt, reason: reason, createdAt: createdAt)
    }
}
