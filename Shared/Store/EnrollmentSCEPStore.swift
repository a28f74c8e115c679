import Foundation
import Logging
import PostgresNIO

/// What happened when a one-time challenge was presented.
public enum ChallengeUse: Sendable, Equatable {
    case consumed(expectedSubject: String?, expectedSANs: [String]?)
    case unknown
    case alreadyUsed
    case expired
}

/// SCEP endpoints (table scep_profiles), one-time challenges and transaction replay state.
public struct EnrollmentSCEPStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func list() async throws -> [SCEPEndpointRecord] { try await fetch(nil) }

    public func get(_ name: String) async throws -> SCEPEndpointRecord? { try await fetch(name).first }

    /// Inserts a profile and its audit event in one transaction. With `ifAbsent`
    /// an existing profile of that name is kept silently (env bootstrap).
    @discardableResult
    public func create(_ p: SCEPEndpointRecord, audit: AuditRecord, ifAbsent: Bool = false) async throws -> Bool {
        let logger = self.logger
        let hash = p.staticChallengeSHA256.map { ByteBuffer(bytes: $0) }
        do {
            return try await client.transaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    INSERT INTO scep_profiles (name, issuer_id, profile_id, ra_cert_path, ra_key_path,
                                               static_challenge_sha256, allow_one_time_challenges, validity_days,
                                               signed_challenge_trust_anchor, require_approval, accept_renewals_from)
                    VALUES (\(p.name), \(p.issuerID), \(p.profileID), \(p.raCertPath), \(p.raKeyPath), \(hash),
                            \(p.allowOneTimeChallenges), \(p.validityDays), \(p.signedChallengeTrustAnchor), \(p.requireApproval),
                            \(p.acceptRenewalsFrom))
                    ON CONFLICT (name) DO NOTHING RETURNING name
                    """, logger: logger)
                var inserted = false
                for try await _ in rows.decode(String.self) { inserted = true }
                guard inserted else {
                    if ifAbsent { return false }
                    throw EnrollmentStoreError.exists(p.name)
                }
                try await AuditLog.record(audit, on: connection, logger: logger)
                return true
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            throw EnrollmentStoreError.missingReference(error.serverInfo?[.message] ?? "foreign key")
        }
    }

    /// Replaces the endpoint's accept_renewals_from list, with its audit event in one transaction.
    public func setAcceptRenewalsFrom(_ name: String, _ endpoints: [String], audit: AuditRecord) async throws {
        try await EnrollmentRenewalSources.set(table: .scep, name: name, endpoints, audit: audit, client: client, logger: logger)
    }

    public func delete(_ name: String, audit: AuditRecord) async throws {
        let logger = self.logger
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("DELETE FROM scep_profiles WHERE name = \(name) RETURNING name", logger: logger)
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            guard deleted else { throw EnrollmentStoreError.notFound(name) }
            try await AuditLog.record(audit, on: connection, logger: logger)
        }
    }

    /// Stores a one-time challenge (its hash) for `profile`.
    public func mintChallenge(profile: String, secretSHA256: [UInt8], expectedSubject: String?, expectedSANs: [String]?,
                              expiresAt: Date, createdBy: String, audit: AuditRecord) async throws -> UUID {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO scep_challenges (profile_name, secret_sha256, expected_subject, expected_sans, expires_at, created_by)
                SELECT name, \(ByteBuffer(bytes: secretSHA256)), \(expectedSubject), \(expectedSANs), \(expiresAt), \(createdBy)
                FROM scep_profiles WHERE name = \(profile)
                RETURNING id
                """, logger: logger)
            var id: UUID?
            for try await value in rows.decode(UUID.self) { id = value }
            guard let id else { throw EnrollmentStoreError.notFound(profile) }
            var audit = audit
            audit.details["challenge_id"] = id.uuidString.lowercased()
            try await AuditLog.record(audit, on: connection, logger: logger)
            return id
        }
    }

    /// Marks the challenge used, exactly once across all replicas (one UPDATE).
    public func consumeChallenge(profile: String, secretSHA256: [UInt8], transactionID: String) async throws -> ChallengeUse {
        let hash = ByteBuffer(bytes: secretSHA256)
        let rows = try await client.query("""
            UPDATE scep_challenges SET used_at = now(), used_transaction_id = \(transactionID)
            WHERE profile_name = \(profile) AND secret_sha256 = \(hash) AND used_at IS NULL AND expires_at > now()
            RETURNING expected_subject, expected_sans
            """, logger: logger)
        for try await (subject, sans) in rows.decode((String?, [String]?).self) {
            return .consumed(expectedSubject: subject, expectedSANs: sans)
        }
        let why = try await client.query("""
            SELECT used_at IS NOT NULL FROM scep_challenges WHERE profile_name = \(profile) AND secret_sha256 = \(hash)
            """, logger: logger)
        for try await used in why.decode(Bool.self) { return used ? .alreadyUsed : .expired }
        return .unknown
    }

    /// Gives back a one-time challenge that `transactionID` consumed but that got the device no certificate
    /// because the signer could not be reached, so the device's retry can use it. False if it was not so used.
    public func releaseChallenge(profile: String, secretSHA256: [UInt8], transactionID: String) async throws -> Bool {
        let rows = try await client.query("""
            UPDATE scep_challenges SET used_at = NULL, used_transaction_id = NULL
            WHERE profile_name = \(profile) AND secret_sha256 = \(ByteBuffer(bytes: secretSHA256))
              AND used_transaction_id = \(transactionID)
            RETURNING id
            """, logger: logger)
        for try await _ in rows.decode(UUID.self) { return true }
        return false
    }

    /// As `releaseChallenge`, for a signed challenge's recorded use.
    public func releaseSignedChallenge(profile: String, id: String, transactionID: String) async throws -> Bool {
        let rows = try await client.query("""
            DELETE FROM scep_signed_challenge_uses
            WHERE profile_name = \(profile) AND challenge_id = \(id) AND transaction_id = \(transactionID)
            RETURNING challenge_id
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    /// Records a signed challenge's id as used on `profile`; false if it was used before.
    /// Rows past their token's expiry (plus a day for clock skew) are purged on the way.
    public func useSignedChallenge(profile: String, id: String, connectorSHA256: String, expiresAt: Date,
                                   transactionID: String) async throws -> Bool {
        let logger = self.logger
        return try await client.transaction(logger: logger) { connection in
            try await connection.query(
                "DELETE FROM scep_signed_challenge_uses WHERE expires_at < now() - interval '1 day'", logger: logger)
            let rows = try await connection.query("""
                INSERT INTO scep_signed_challenge_uses (profile_name, challenge_id, connector_sha256, expires_at, transaction_id)
                VALUES (\(profile), \(id), \(connectorSHA256), \(expiresAt), \(transactionID))
                ON CONFLICT DO NOTHING RETURNING challenge_id
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// Records the start of a transaction; false if this transactionID was seen before on this profile.
    public func beginTransaction(profile: String, transactionID: String) async throws -> Bool {
        let rows = try await client.query("""
            INSERT INTO scep_transactions (profile_name, transaction_id, status) VALUES (\(profile), \(transactionID), 'started')
            ON CONFLICT DO NOTHING RETURNING transaction_id
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    /// Removes a transaction that failed for a reason the client may retry (the signer unreachable), so
    /// that the same message is not refused as a replay when it comes again.
    public func forgetTransaction(profile: String, transactionID: String) async throws {
        _ = try await client.query("""
            DELETE FROM scep_transactions WHERE profile_name = \(profile) AND transaction_id = \(transactionID) AND status = 'started'
            """, logger: logger)
    }

    public func finishTransaction(profile: String, transactionID: String, certificateID: UUID?) async throws {
        let status = certificateID == nil ? "failed" : "issued"
        _ = try await client.query("""
            UPDATE scep_transactions SET status = \(status), certificate_id = \(certificateID), updated_at = now()
            WHERE profile_name = \(profile) AND transaction_id = \(transactionID)
            """, logger: logger)
    }

    private func fetch(_ name: String?) async throws -> [SCEPEndpointRecord] {
        let rows = try await client.query("""
            SELECT name, issuer_id, profile_id, ra_cert_path, ra_key_path, static_challenge_sha256,
                   allow_one_time_challenges, validity_days, signed_challenge_trust_anchor, created_at, updated_at, require_approval,
                   accept_renewals_from
            FROM scep_profiles WHERE \(name)::text IS NULL OR name = \(name) ORDER BY name
            """, logger: logger)
        var result: [SCEPEndpointRecord] = []
        for try await (name, issuer, profile, cert, key, hash, oneTime, days, anchor, created, updated, approval, accepted)
            in rows.decode((String, String, String, String, String, ByteBuffer?, Bool, Int?, String?, Date, Date, Bool, [String]).self) {
            result.append(SCEPEndpointRecord(
                name: name, issuerID: issuer, profileID: profile, raCertPath: cert, raKeyPath: key,
                staticChallengeSHA256: hash.map { Array($0.readableBytesView) }, allowOneTimeChallenges: oneTime,
                validityDays: days, signedChallengeTrustAnchor: anchor, requireApproval: approval, acceptRenewalsFrom: accepted,
                createdAt: created, updatedAt: updated))
        }
        return result
    }
}
