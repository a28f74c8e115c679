import CertctlPKI
import Foundation
import Logging
import PostgresNIO

public struct ProfileRecord: Sendable, Equatable {
    public var id: String
    public var description: String
    public var allowedKeyAlgorithms: [String]
    public var maxValidityDays: Int
    public var extendedKeyUsages: [String]
    public var allowedSANTypes: [String]
    public var sanPatterns: [String]
    public var allowCA: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, description: String, allowedKeyAlgorithms: [String], maxValidityDays: Int,
        extendedKeyUsages: [String], allowedSANTypes: [String], sanPatterns: [String], allowCA: Bool,
        createdAt: Date = Date(), updatedAt: Date = Date()
    ) {
        self.id = id
        self.description = description
        self.allowedKeyAlgorithms = allowedKeyAlgorithms
        self.maxValidityDays = maxValidityDays
        self.extendedKeyUsages = extendedKeyUsages
        self.allowedSANTypes = allowedSANTypes
        self.sanPatterns = sanPatterns
        self.allowCA = allowCA
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public enum ProfileStoreError: Error, Equatable {
    case exists(String)
    case notFound(String)
    /// Certificates, enrollment endpoints or held requests name it.
    case inUse(String)
}

public struct ProfileStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func list() async throws -> [ProfileRecord] {
        try await fetch(nil)
    }

    public func get(_ id: String) async throws -> ProfileRecord? {
        try await fetch(id).first
    }

    /// Inserts a profile and its audit event in one transaction.
    public func create(_ profile: ProfileRecord, audit: AuditRecord) async throws -> ProfileRecord {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO profiles (id, description, allowed_key_algorithms, max_validity_days, extended_key_usages,
                                      allowed_san_types, san_patterns, allow_ca)
                VALUES (\(profile.id), \(profile.description), \(profile.allowedKeyAlgorithms), \(profile.maxValidityDays),
                        \(profile.extendedKeyUsages), \(profile.allowedSANTypes), \(profile.sanPatterns), \(profile.allowCA))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            guard inserted else { throw ProfileStoreError.exists(profile.id) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
        return try await get(profile.id) ?? profile
    }

    public func update(_ profile: ProfileRecord, audit: AuditRecord) async throws -> ProfileRecord {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE profiles SET description = \(profile.description),
                    allowed_key_algorithms = \(profile.allowedKeyAlgorithms), max_validity_days = \(profile.maxValidityDays),
                    extended_key_usages = \(profile.extendedKeyUsages), allowed_san_types = \(profile.allowedSANTypes),
                    san_patterns = \(profile.sanPatterns), allow_ca = \(profile.allowCA), updated_at = now()
                WHERE id = \(profile.id) RETURNING id
                """, logger: logger)
            var updated = false
            for try await _ in rows.decode(String.self) { updated = true }
            guard updated else { throw ProfileStoreError.notFound(profile.id) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
        return try await get(profile.id) ?? profile
    }

    /// Deletes an unused profile and records its audit event in one transaction. A profile that certificates,
    /// SCEP endpoints, EST labels or held requests name stays (the foreign keys refuse it: `inUse`).
    public func delete(_ id: String, audit: AuditRecord) async throws {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            var deleted = false
            do {
                let rows = try await connection.query("DELETE FROM profiles WHERE id = \(id) RETURNING id", logger: logger)
                for try await _ in rows.decode(String.self) { deleted = true }
            } catch let error as PSQLError where DatabaseErrorText.sqlState(error) == "23503" {
                throw ProfileStoreError.inUse(id)
            }
            guard deleted else { throw ProfileStoreError.notFound(id) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
    }

    private func fetch(_ id: String?) async throws -> [ProfileRecord] {
        let rows = try await client.query("""
            SELECT id, description, allowed_key_algorithms, max_validity_days, extended_key_usages,
                   allowed_san_types, san_patterns, allow_ca, created_at, updated_at
            FROM profiles WHERE \(id)::text IS NULL OR id = \(id) ORDER BY id
            """, logger: logger)
        var result: [ProfileRecord] = []
        for try await (id, description, keys, days, ekus, sanTypes, patterns, allowCA, created, updated)
            in rows.decode((String, String, [String], Int, [String], [String], [String], Bool, Date, Date).self) {
            result.append(ProfileRecord(
                id: id, description: description, allowedKeyAlgorithms: keys, maxValidityDays: days,
                extendedKeyUsages: ekus, allowedSANTypes: sanTypes, sanPatterns: patterns, allowCA: allowCA,
                createdAt: created, updatedAt: updated))
        }
        return result
    }
}

extension ProfileRecord {
    /// The profile as policy; nil if a stored value is unknown to this build.
    public var policy: CertificateProfile? {
        CertificateProfile(id: id, description: description, allowedKeyAlgorithmNames: allowedKeyAlgorithms,
                           maxValidityDays: maxValidityDays, extendedKeyUsageNames: extendedKeyUsages,
                           allowedSANTypeNames: allowedSANTypes, sanPatterns: sanPatterns, allowCA: allowCA)
    }
}
