import CertctlConfig
import Foundation
import Logging
import PostgresNIO

/// Where a CA key generation is in its life (migration 0011).
public enum GenerationStatus: String, Sendable, CaseIterable {
    case pending, active, retired, archived
}

/// One key generation of an issuer, with what its certificates look like.
public struct IssuerGeneration: Sendable {
    public var issuerID: String
    public var generation: Int
    public var status: GenerationStatus
    public var certificateDER: [UInt8]?
    public var csrDER: [UInt8]?
    public var chainDER: [[UInt8]]
    public var crossCertificateDER: [UInt8]?
    public var keyAlgorithm: String
    public var notBefore: Date?
    public var notAfter: Date?
    public var activateAt: Date?
    public var activatedAt: Date?
    public var retiredAt: Date?
    public var archivedAt: Date?
    public var lastCRLNumber: String
    /// Certificates it issued (leaves; its delegated OCSP responder certificates are not counted):
    /// all, revoked, and not yet expired; and the latest notAfter among them.
    public var certificates: Int
    public var revoked: Int
    public var unexpired: Int
    public var lastCertificateNotAfter: Date?
}

/// A new generation the signer made: its key file is written, its row is not.
public struct NewGeneration: Sendable {
    public var facts: IssuerGenerationFacts
    public var status: GenerationStatus
    public var csrDER: [UInt8]?
    public var crossCertificateDER: [UInt8]?
    public var activateAt: Date?

    public init(facts: IssuerGenerationFacts, status: GenerationStatus, csrDER: [UInt8]?, crossCertificateDER: [UInt8]?,
                activateAt: Date?) {
        self.facts = facts
        self.status = status
        self.csrDER = csrDER
        self.crossCertificateDER = crossCertificateDER
        self.activateAt = activateAt
    }
}

public enum GenerationStoreError: Error, Equatable, CustomStringConvertible {
    case unknownIssuer(String)
    case rotationPending(String, Int)
    case notPending(String, Int)

    public var description: String {
        switch self {
        case .unknownIssuer(let id): return "unknown issuer \(id)"
        case .rotationPending(let id, let generation):
            return "issuer \(id) already has a pending generation (\(generation)); install its certificate or wait for its activation"
        case .notPending(let id, let generation): return "generation \(generation) of issuer \(id) is not pending"
        }
    }
}

/// A generation that changed state, for the signer's keyring and audit trail.
public struct GenerationTransition: Sendable, Equatable {
    public var issuerID: String
    public var generation: Int
    public var status: GenerationStatus
}

/// Key generations: the signer writes them (rotation, activation, archive);
/// every service reads them.
public struct IssuerGenerationStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Every generation of `issuerID` (or of every issuer), oldest first, with certificate counts.
    public func list(issuerID: String? = nil) async throws -> [IssuerGeneration] {
        let rows = try await client.query("""
            SELECT g.issuer_id, g.generation, g.status, g.certificate_der, g.csr_der, g.chain_der, g.cross_certificate_der,
                   g.key_algorithm, g.not_before, g.not_after, g.activate_at, g.activated_at, g.retired_at, g.archived_at,
                   g.last_crl_number::text,
                   (SELECT count(*) FROM certificates c WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                      AND c.status IN ('issued', 'revoked') AND c.request_source IS DISTINCT FROM 'ocsp-responder'),
                   (SELECT count(*) FROM certificates c WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                      AND c.status = 'revoked'),
                   (SELECT count(*) FROM certificates c WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                      AND c.status IN ('issued', 'revoked') AND c.request_source IS DISTINCT FROM 'ocsp-responder' AND c.not_after > now()),
                   (SELECT max(not_after) FROM certificates c WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                      AND c.status IN ('issued', 'revoked') AND c.request_source IS DISTINCT FROM 'ocsp-responder')
            FROM issuer_generations g
            WHERE \(issuerID)::text IS NULL OR g.issuer_id = \(issuerID)
            ORDER BY g.issuer_id, g.generation
            """, logger: logger)
        var result: [IssuerGeneration] = []
        for try await (issuer, generation, status, certificate, csr, chain, cross, algorithm, notBefore, notAfter, activateAt,
                       activatedAt, retiredAt, archivedAt, lastNumber, total, revoked, unexpired, lastNotAfter)
            in rows.decode((String, Int, String, ByteBuffer?, ByteBuffer?, [ByteBuffer], ByteBuffer?, String, Date?, Date?, Date?,
                            Date?, Date?, Date?, String, Int, Int, Int, Date?).self) {
            result.append(IssuerGeneration(
                issuerID: issuer, generation: generation, status: GenerationStatus(rawValue: status) ?? .archived,
                certificateDER: certificate.map { Array(buffer: $0) }, csrDER: csr.map { Array(buffer: $0) },
                chainDER: chain.map { Array(buffer: $0) }, crossCertificateDER: cross.map { Array(buffer: $0) },
                keyAlgorithm: algorithm, notBefore: notBefore, notAfter: notAfter, activateAt: activateAt,
                activatedAt: activatedAt, retiredAt: retiredAt, archivedAt: archivedAt, lastCRLNumber: lastNumber,
                certificates: total, revoked: revoked, unexpired: unexpired, lastCertificateNotAfter: lastNotAfter))
        }
        return result
    }

    /// Records a generation the signer made (key file already written) as
    /// generation n+1, with its audit row. At most one generation per issuer
    /// may be pending.
    public func insert(_ new: NewGeneration, createIssuer: Bool, audit: AuditRecord) async throws -> Int {
        let logger = self.logger
        let facts = new.facts
        return try await client.transaction(logger: logger) { connection in
            if createIssuer {
                try await connection.query("""
                    INSERT INTO issuers (id, display_name) VALUES (\(facts.issuerID), \(facts.displayName))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
            }
            let issuer = try await connection.query("SELECT 1 FROM issuers WHERE id = \(facts.issuerID) FOR UPDATE", logger: logger)
            var exists = false
            for try await _ in issuer.decode(Int.self) { exists = true }
            guard exists else { throw GenerationStoreError.unknownIssuer(facts.issuerID) }
            let pending = try await connection.query("""
                SELECT generation FROM issuer_generations WHERE issuer_id = \(facts.issuerID) AND status = 'pending'
                """, logger: logger)
            for try await generation in pending.decode(Int.self) {
                throw GenerationStoreError.rotationPending(facts.issuerID, generation)
            }
            let generation = try await Self.insertNext(new, on: connection, logger: logger)
            var record = audit
            record.targetID = "\(facts.issuerID)/\(generation)"
            record.details["issuer_generation"] = "\(generation)"
            try await AuditLog.record(record, on: connection, logger: logger)
            return generation
        }
    }

    /// Inserts `new` as the issuer's generation n+1 (the caller holds the
    /// issuer row's lock). Its CRLs are numbered after every number the
    /// issuer published, so no relying party sees a number twice.
    static func insertNext(_ new: NewGeneration, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let facts = new.facts
        let next = try await connection.query("""
            SELECT COALESCE(MAX(generation), 0) + 1, COALESCE(MAX(last_crl_number), 0)::text
            FROM issuer_generations WHERE issuer_id = \(facts.issuerID)
            """, logger: logger)
        var generation = 1, crlNumber = "0"
        for try await (value, number) in next.decode((Int, String).self) { (generation, crlNumber) = (value, number) }
        let certified = !facts.certificateDER.isEmpty
        try await connection.query("""
            INSERT INTO issuer_generations (issuer_id, generation, status, certificate_der, subject_der, subject_key_id,
                name_hash_sha1, key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, cert_path, key_path,
                not_before, not_after, csr_der, cross_certificate_der, activate_at, activated_at, last_crl_number)
            VALUES (\(facts.issuerID), \(generation), \(new.status.rawValue),
                \(certified ? ByteBuffer(bytes: facts.certificateDER) : nil),
                \(ByteBuffer(bytes: facts.subjectDER)), \(ByteBuffer(bytes: facts.subjectKeyID)),
                \(ByteBuffer(bytes: facts.nameHashSHA1)), \(ByteBuffer(bytes: facts.keyHashSHA1)),
                \(ByteBuffer(bytes: facts.nameHashSHA256)), \(ByteBuffer(bytes: facts.keyHashSHA256)), \(facts.keyAlgorithm),
                \(facts.certPath), \(facts.keyPath), \(certified ? facts.notBefore : nil), \(certified ? facts.notAfter : nil),
                \(new.csrDER.map { ByteBuffer(bytes: $0) }), \(new.crossCertificateDER.map { ByteBuffer(bytes: $0) }),
                \(new.activateAt), \(new.status == .active ? Date() : nil), \(crlNumber)::numeric)
            """, logger: logger)
        return generation
    }

    /// Stores the certificate an external parent issued for a pending
    /// generation (already checked by the signer), with its audit row.
    public func installCertificate(
        _ facts: IssuerGenerationFacts, generation: Int, chainDER: [[UInt8]], activateAt: Date?, audit: AuditRecord
    ) async throws {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE issuer_generations SET certificate_der = \(ByteBuffer(bytes: facts.certificateDER)),
                    subject_der = \(ByteBuffer(bytes: facts.subjectDER)), subject_key_id = \(ByteBuffer(bytes: facts.subjectKeyID)),
                    name_hash_sha1 = \(ByteBuffer(bytes: facts.nameHashSHA1)),
                    name_hash_sha256 = \(ByteBuffer(bytes: facts.nameHashSHA256)),
                    chain_der = \(chainDER.map { ByteBuffer(bytes: $0) }), cert_path = \(facts.certPath),
                    not_before = \(facts.notBefore), not_after = \(facts.notAfter),
                    activate_at = COALESCE(\(activateAt), activate_at)
                WHERE issuer_id = \(facts.issuerID) AND generation = \(generation) AND status = 'pending'
                RETURNING generation
                """, logger: logger)
            var updated = false
            for try await _ in rows.decode(Int.self) { updated = true }
            guard updated else { throw GenerationStoreError.notPending(facts.issuerID, generation) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
    }

    /// Activates every pending generation that has its certificate and whose
    /// time has come, retiring the issuer's active one, each with audit rows.
    /// Tells CRL publishers (their "active generation" copies are stale).
    public func activateDue(actor: String) async throws -> [GenerationTransition] {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            let due = try await connection.query("""
                SELECT issuer_id, generation FROM issuer_generations
                WHERE status = 'pending' AND certificate_der IS NOT NULL AND (activate_at IS NULL OR activate_at <= now())
                ORDER BY issuer_id, generation FOR UPDATE
                """, logger: logger)
            var rows: [(String, Int)] = []
            for try await row in due.decode((String, Int).self) { rows.append(row) }
            var changes: [GenerationTransition] = []
            for (issuerID, generation) in rows {
                let retired = try await connection.query("""
                    UPDATE issuer_generations SET status = 'retired', retired_at = now()
                    WHERE issuer_id = \(issuerID) AND status = 'active' RETURNING generation
                    """, logger: logger)
                for try await old in retired.decode(Int.self) {
                    changes.append(GenerationTransition(issuerID: issuerID, generation: old, status: .retired))
                    try await AuditLog.record(AuditRecord(
                        service: "signer", actor: actor, action: "issuer.generation.retire", outcome: .success,
                        targetType: "issuer_generation", targetID: "\(issuerID)/\(old)",
                        details: ["issuer_id": issuerID, "issuer_generation": "\(old)", "successor": "\(generation)"]),
                        on: connection, logger: logger)
                }
                try await connection.query("""
                    UPDATE issuer_generations SET status = 'active', activated_at = now()
                    WHERE issuer_id = \(issuerID) AND generation = \(generation)
                    """, logger: logger)
                changes.append(GenerationTransition(issuerID: issuerID, generation: generation, status: .active))
                try await AuditLog.record(AuditRecord(
                    service: "signer", actor: actor, action: "issuer.generation.activate", outcome: .success,
                    targetType: "issuer_generation", targetID: "\(issuerID)/\(generation)",
                    details: ["issuer_id": issuerID, "issuer_generation": "\(generation)"]),
                    on: connection, logger: logger)
                try await connection.query("SELECT pg_notify('certctl_crl_published', \(issuerID))", logger: logger)
            }
            return changes
        }
    }

    /// Archives every retired generation whose certificates have all been
    /// expired for at least `grace` (one that issued none: retired that long).
    /// Its OCSP responder certificates do not count: nobody asks OCSP about
    /// certificates that expired, so they are no longer needed.
    public func archiveDue(grace: Duration, actor: String) async throws -> [GenerationTransition] {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE issuer_generations g SET status = 'archived', archived_at = now()
                WHERE g.status = 'retired'
                  AND COALESCE((SELECT max(c.not_after) FROM certificates c
                                WHERE c.issuer_id = g.issuer_id AND c.issuer_generation = g.generation
                                  AND c.status IN ('issued', 'revoked') AND c.request_source IS DISTINCT FROM 'ocsp-responder'), g.retired_at, g.created_at)
                      <= now() - make_interval(secs => \(grace.seconds))
                RETURNING g.issuer_id, g.generation
                """, logger: logger)
            var changes: [GenerationTransition] = []
            for try await (issuerID, generation) in rows.decode((String, Int).self) {
                changes.append(GenerationTransition(issuerID: issuerID, generation: generation, status: .archived))
            }
            for change in changes {
                try await AuditLog.record(AuditRecord(
                    service: "signer", actor: actor, action: "issuer.generation.archive", outcome: .success,
                    targetType: "issuer_generation", targetID: "\(change.issuerID)/\(change.generation)",
                    details: ["issuer_id": change.issuerID, "issuer_generation": "\(change.generation)"]),
                    on: connection, logger: logger)
                // the CRL tier publishes the generation's final CRL
                try await connection.query("SELECT pg_notify('certctl_crl_published', \(change.issuerID))", logger: logger)
            }
            return changes
        }
    }
}
