import Foundation
import Logging
import PostgresNIO

/// An issuer and its active CA key generation.
public struct IssuerRecord: Sendable {
    public var id: String
    public var displayName: String
    public var status: String
    public var allowSubCA: Bool
    public var generation: Int
    public var certificateDER: [UInt8]
    public var keyAlgorithm: String
    public var notBefore: Date
    public var notAfter: Date
}

/// The facts the signer records about a CA certificate it loaded.
public struct IssuerGenerationFacts: Sendable {
    public var issuerID: String
    public var displayName: String
    public var certificateDER: [UInt8]
    public var subjectDER: [UInt8]
    public var subjectKeyID: [UInt8]
    public var nameHashSHA1: [UInt8]
    public var keyHashSHA1: [UInt8]
    public var nameHashSHA256: [UInt8]
    public var keyHashSHA256: [UInt8]
    public var keyAlgorithm: String
    public var certPath: String?
    public var keyPath: String?
    public var notBefore: Date
    public var notAfter: Date

    public init(
        issuerID: String, displayName: String, certificateDER: [UInt8], subjectDER: [UInt8], subjectKeyID: [UInt8],
        nameHashSHA1: [UInt8], keyHashSHA1: [UInt8], nameHashSHA256: [UInt8], keyHashSHA256: [UInt8],
        keyAlgorithm: String, certPath: String?, keyPath: String?, notBefore: Date, notAfter: Date
    ) {
        self.issuerID = issuerID
        self.displayName = displayName
        self.certificateDER = certificateDER
        self.subjectDER = subjectDER
        self.subjectKeyID = subjectKeyID
        self.nameHashSHA1 = nameHashSHA1
        self.keyHashSHA1 = keyHashSHA1
        self.nameHashSHA256 = nameHashSHA256
        self.keyHashSHA256 = keyHashSHA256
        self.keyAlgorithm = keyAlgorithm
        self.certPath = certPath
        self.keyPath = keyPath
        self.notBefore = notBefore
        self.notAfter = notAfter
    }
}

public struct IssuerStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Records the env-configured CA certificate (`CERTCTL_CA_CERT_PATH`).
    /// An issuer without generations gets it as generation 1, active. A
    /// certificate the issuer already has keeps its generation and state, so
    /// a restart never undoes a rotation. A certificate never seen before is a
    /// file-swap rotation: it becomes generation n+1, active, and the
    /// previously active generation is retired (it keeps signing its CRLs and
    /// responder certificates when its key files are recorded).
    public func registerEnvironmentGeneration(_ facts: IssuerGenerationFacts) async throws -> (generation: Int, status: String) {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO issuers (id, display_name) VALUES (\(facts.issuerID), \(facts.displayName))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
            // serialise concurrent registrations of the same issuer
            try await connection.query("SELECT 1 FROM issuers WHERE id = \(facts.issuerID) FOR UPDATE", logger: logger)
            let der = ByteBuffer(bytes: facts.certificateDER)
            let known = try await connection.query("""
                SELECT generation, status FROM issuer_generations WHERE issuer_id = \(facts.issuerID) AND certificate_der = \(der)
                """, logger: logger)
            for try await (generation, status) in known.decode((Int, String).self) { return (generation, status) }
            try await connection.query("""
                UPDATE issuer_generations SET status = 'retired', retired_at = now()
                WHERE issuer_id = \(facts.issuerID) AND status = 'active'
                """, logger: logger)
            let generation = try await IssuerGenerationStore.insertNext(
                NewGeneration(facts: facts, status: .active, csrDER: nil, crossCertificateDER: nil, activateAt: nil),
                on: connection, logger: logger)
            return (generation, "active")
        }
    }

    public func list() async throws -> [IssuerRecord] {
        try await fetch(where: nil)
    }

    public func get(_ id: String) async throws -> IssuerRecord? {
        try await fetch(where: id).first
    }

    private func fetch(where id: String?) async throws -> [IssuerRecord] {
        let rows = try await client.query("""
            SELECT i.id, i.display_name, i.status, i.allow_sub_ca, g.generation, g.certificate_der,
                   g.key_algorithm, g.not_before, g.not_after
            FROM issuers i JOIN issuer_generations g ON g.issuer_id = i.id AND g.status = 'active'
            WHERE \(id)::text IS NULL OR i.id = \(id)
            ORDER BY i.id
            """, logger: logger)
        var result: [IssuerRecord] = []
        for try await (id, name, status, allowSubCA, generation, der, algorithm, notBefore, notAfter)
            in rows.decode((String, String, String, Bool, Int, ByteBuffer, String, Date, Date).self) {
            result.append(IssuerRecord(
                id: id, displayName: name, status: status, allowSubCA: allowSubCA, generation: generation,
                certificateDER: Array(buffer: der), keyAlgorithm: algorithm, notBefore: notBefore, notAfter: notAfter))
        }
        return result
    }
}

extension IssuerStore {
    /// Key files of issuer generations registered in the database (further
    /// issuers and older generations the signer loads besides its env CA).
    public func keyFiles() async throws -> [(issuerID: String, generation: Int, certPath: String?, keyPath: String, status: String)] {
        let rows = try await client.query("""
            SELECT issuer_id, generation, cert_path, key_path, status
            FROM issuer_generations WHERE key_path IS NOT NULL
            ORDER BY issuer_id, generation
            """, logger: logger)
        var result: [(String, Int, String?, String, String)] = []
        for try await row in rows.decode((String, Int, String?, String, String).self) { result.append(row) }
        return result.map { (issuerID: $0.0, generation: $0.1, certPath: $0.2, keyPath: $0.3, status: $0.4) }
    }

    /// Sets the issuer's display name (admin).
    public func rename(_ issuerID: String, to displayName: String) async throws {
        try await client.query("UPDATE issuers SET display_name = \(displayName), updated_at = now() WHERE id = \(issuerID)",
                               logger: logger)
    }

    /// Whether the issuer allows sub-CA certificates.
    public func allowsSubCA(_ issuerID: String) async throws -> Bool {
        let rows = try await client.query("SELECT allow_sub_ca FROM issuers WHERE id = \(issuerID)", logger: logger)
        for try await value in rows.decode(Bool.self) { return value }
        return false
    }
}
