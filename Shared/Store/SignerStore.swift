import CertctlConfig
import CertctlPKI
import Foundation
import Logging
import PostgresNIO

/// A reserved certificate row as the signer reads it: the request it must match.
public struct LeafReservation: Sendable {
    public var certificateID: UUID
    public var issuerID: String
    public var issuerGeneration: Int?
    public var serialHex: String
    public var status: String
    public var profileID: String?
    public var subjectDER: [UInt8]?
    public var spkiSHA256: [UInt8]?
    /// `GeneralNameText` forms.
    public var subjectAltNames: [String]
    public var notBefore: Date?
    public var notAfter: Date?
    /// The database role that inserted the row.
    public var reservedBy: String

    public init(certificateID: UUID, issuerID: String, issuerGeneration: Int?, serialHex: String, status: String,
                profileID: String?, subjectDER: [UInt8]?, spkiSHA256: [UInt8]?, subjectAltNames: [String],
                notBefore: Date?, notAfter: Date?, reservedBy: String) {
        self.certificateID = certificateID
        self.issuerID = issuerID
        self.issuerGeneration = issuerGeneration
        self.serialHex = serialHex
        self.status = status
        self.profileID = profileID
        self.subjectDER = subjectDER
        self.spkiSHA256 = spkiSHA256
        self.subjectAltNames = subjectAltNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.reservedBy = reservedBy
    }
}

/// Everything the signer reads before it signs a leaf, in one round trip.
public struct LeafSigningContext: Sendable {
    public var reservation: LeafReservation
    /// The reservation's profile (nil when unknown or holding values this build does not know).
    public var profile: CertificateProfile?
    public var issuerAllowsSubCA: Bool
    /// Whether an SCEP endpoint or EST label of the issuer uses the profile (what certctl-enroll may issue under).
    public var profileServesEnrollment: Bool

    public init(reservation: LeafReservation, profile: CertificateProfile?, issuerAllowsSubCA: Bool, profileServesEnrollment: Bool) {
        self.reservation = reservation
        self.profile = profile
        self.issuerAllowsSubCA = issuerAllowsSubCA
        self.profileServesEnrollment = profileServesEnrollment
    }
}

/// What the revocation log says an issuer's next CRL must list, read by the signer itself.
public struct ExpectedCRL: Sendable {
    /// Entries (and their digest, `CRLEntryDigest`'s form) with change_seq ≤ the CRL's cut.
    public var entries: CRLEntryDigest
    /// Revocation changes after the cut that are older than the allowed staleness.
    public var staleChanges: Int
    /// The cut is beyond the revocation log's end (no such change exists yet).
    public var cutBeyondLog: Bool
    /// thisUpdate of the last CRL signed for the issuer.
    public var lastThisUpdate: Date?

    public init(entries: CRLEntryDigest, staleChanges: Int, cutBeyondLog: Bool, lastThisUpdate: Date?) {
        self.entries = entries
        self.staleChanges = staleChanges
        self.cutBeyondLog = cutBeyondLog
        self.lastThisUpdate = lastThisUpdate
    }
}

/// The signer's reads and writes: reservations it completes, responder
/// certificates and CRLs it records. Every signature is recorded with an
/// audit row in the same statement.
public struct SignerStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func leafContext(certificateID: UUID) async throws -> LeafSigningContext? {
        let rows = try await client.query("""
            SELECT c.issuer_id, c.issuer_generation, c.serial_hex, c.status, c.profile_id, c.subject_der, c.spki_sha256,
                   c.subject_alt_names, c.not_before, c.not_after, c.reserved_by,
                   p.description, p.allowed_key_algorithms, p.max_validity_days, p.extended_key_usages,
                   p.allowed_san_types, p.san_patterns, p.allow_ca, i.allow_sub_ca,
                   EXISTS (SELECT 1 FROM scep_profiles s WHERE s.profile_id = c.profile_id AND s.issuer_id = c.issuer_id)
                   OR EXISTS (SELECT 1 FROM est_labels e WHERE e.profile_id = c.profile_id AND e.issuer_id = c.issuer_id)
            FROM certificates c JOIN issuers i ON i.id = c.issuer_id LEFT JOIN profiles p ON p.id = c.profile_id
            WHERE c.id = \(certificateID)
            """, logger: logger)
        for try await (issuerID, generation, serial, status, profileID, subjectDER, spki, sans, notBefore, notAfter, reservedBy,
                       description, keys, days, ekus, sanTypes, patterns, allowCA, allowSubCA, enrollment)
            in rows.decode((String, Int?, String, String, String?, ByteBuffer?, ByteBuffer?, [String], Date?, Date?, String,
                            String?, [String]?, Int?, [String]?, [String]?, [String]?, Bool?, Bool, Bool).self) {
            var profile: CertificateProfile?
            if let profileID, let description, let keys, let days, let ekus, let sanTypes, let patterns, let allowCA {
                profile = CertificateProfile(
                    id: profileID, description: description, allowedKeyAlgorithmNames: keys, maxValidityDays: days,
                    extendedKeyUsageNames: ekus, allowedSANTypeNames: sanTypes, sanPatterns: patterns, allowCA: allowCA)
            }
            let reservation = LeafReservation(
                certificateID: certificateID, issuerID: issuerID, issuerGeneration: generation, serialHex: serial, status: status,
                profileID: profileID, subjectDER: subjectDER.map { Array(buffer: $0) }, spkiSHA256: spki.map { Array(buffer: $0) },
                subjectAltNames: sans, notBefore: notBefore, notAfter: notAfter, reservedBy: reservedBy)
            return LeafSigningContext(reservation: reservation, profile: profile, issuerAllowsSubCA: allowSubCA,
                                      profileServesEnrollment: enrollment)
        }
        return nil
    }

    /// Only a `pending` row with this issuer and serial receives the
    /// certificate; its audit row is written in the same statement. False
    /// when there is no such row.
    public func completeIssuance(
        id: UUID, issuerID: String, serialHex: String, certificateDER: [UInt8], audit: AuditRecord
    ) async throws -> Bool {
        let details = try Self.json(audit.details)
        let rows = try await client.query("""
            WITH stored AS (
                UPDATE certificates SET status = 'issued', certificate_der = \(ByteBuffer(bytes: certificateDER)),
                    updated_at = now()
                WHERE id = \(id) AND issuer_id = \(issuerID) AND serial_hex = \(serialHex) AND status = 'pending'
                RETURNING id
            )
            INSERT INTO audit_events (service, actor, action, outcome, target_type, target_id, error_code, details)
            SELECT \(audit.service), \(audit.actor), \(audit.action), \(audit.outcome.rawValue), \(audit.targetType),
                   \(audit.targetID), \(audit.errorCode), \(details)::jsonb
            FROM stored
            RETURNING true
            """, logger: logger)
        // RETURNING a constant: a service role may insert audit rows but not read them back
        for try await _ in rows.decode(Bool.self) { return true }
        return false
    }

    /// Records a delegated OCSP responder certificate the signer made, with
    /// its audit row (target id: the new row's id), in one statement. Returns
    /// the row id; nil when the serial is already taken.
    public func recordResponderCertificate(
        issuerID: String, generation: Int, serialHex: String, subject: String, subjectDER: [UInt8], spkiSHA256: [UInt8],
        notBefore: Date, notAfter: Date, certificateDER: [UInt8], requestedBy: String, audit: AuditRecord
    ) async throws -> UUID? {
        let details = try Self.json(audit.details)
        let rows = try await client.query("""
            WITH stored AS (
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_der,
                    spki_sha256, not_before, not_after, certificate_der, requested_by, request_source)
                VALUES (\(issuerID), \(generation), \(serialHex), 'issued', NULL, \(subject), \(ByteBuffer(bytes: subjectDER)),
                    \(ByteBuffer(bytes: spkiSHA256)), \(notBefore), \(notAfter), \(ByteBuffer(bytes: certificateDER)),
                    \(requestedBy), 'ocsp-responder')
                ON CONFLICT DO NOTHING
                RETURNING id
            ), audited AS (
                INSERT INTO audit_events (service, actor, action, outcome, target_type, target_id, error_code, details)
                SELECT \(audit.service), \(audit.actor), \(audit.action), \(audit.outcome.rawValue), \(audit.targetType),
                       stored.id::text, \(audit.errorCode), \(details)::jsonb
                FROM stored
                RETURNING true
            )
            SELECT stored.id FROM stored, audited
            """, logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    /// The signer's own read of what the next CRL of generation `generation`
    /// of issuer `issuerID` must list: its revoked certificates, not released
    /// from hold, not expired before the generation's last signed CRL's
    /// thisUpdate, change_seq ≤ `cut`; digested in `CRLEntryDigest`'s form.
    /// Also how many of its changes after the cut are older than
    /// `staleAfter`. Nil when the generation does not exist.
    public func expectedCRL(issuerID: String, generation: Int, cut: Int64, staleAfter: Duration) async throws -> ExpectedCRL? {
        let rows = try await client.query("""
            SELECT g.last_crl_this_update,
                   (SELECT count(*) FROM certificate_revocations r
                    WHERE r.issuer_id = g.issuer_id AND r.issuer_generation = g.generation AND r.change_seq > \(cut)
                      AND r.changed_at < now() - make_interval(secs => \(staleAfter.seconds))),
                   \(cut) > COALESCE((SELECT max(change_seq) FROM certificate_revocations), 0),
                   e.entries, e.digest
            FROM issuer_generations g, LATERAL (
                SELECT count(*) AS entries,
                       sha256(convert_to(COALESCE(string_agg(\(unescaped: RevocationLines.sql),
                           E'\\n' ORDER BY serial_hex COLLATE "C"), ''), 'UTF8')) AS digest
                FROM certificate_revocations
                WHERE issuer_id = g.issuer_id AND issuer_generation = g.generation AND hold_released_at IS NULL
                  AND change_seq <= \(cut)
                  AND (g.last_crl_this_update IS NULL OR certificate_not_after IS NULL
                       OR certificate_not_after >= g.last_crl_this_update)
            ) e
            WHERE g.issuer_id = \(issuerID) AND g.generation = \(generation)
            """, logger: logger)
        for try await (lastThisUpdate, staleChanges, beyond, entries, digest)
            in rows.decode((Date?, Int, Bool, Int, ByteBuffer).self) {
            return ExpectedCRL(
                entries: CRLEntryDigest(count: entries, sha256: Array(buffer: digest)), staleChanges: staleChanges,
                cutBeyondLog: beyond, lastThisUpdate: lastThisUpdate)
        }
        return nil
    }

    public enum CRLNumberOutcome: Sendable, Equatable {
        case recorded
        case notIncreasing(last: String)
        case stepTooLarge(last: String)
    }

    /// Records that the signer signs CRL `number` (decimal) for the issuer
    /// generation and its thisUpdate, with its audit row, in one statement —
    /// only when the number exceeds the generation's last one by at most `maxStep`.
    public func recordCRL(
        issuerID: String, generation: Int, number: String, thisUpdate: Date, maxStep: Int, audit: AuditRecord
    ) async throws -> CRLNumberOutcome {
        let details = try Self.json(audit.details)
        let rows = try await client.query("""
            WITH advanced AS (
                UPDATE issuer_generations SET last_crl_number = \(number)::numeric, last_crl_this_update = \(thisUpdate)
                WHERE issuer_id = \(issuerID) AND generation = \(generation) AND last_crl_number < \(number)::numeric
                  AND \(number)::numeric <= last_crl_number + \(maxStep)
                RETURNING issuer_id
            )
            INSERT INTO audit_events (service, actor, action, outcome, target_type, target_id, error_code, details)
            SELECT \(audit.service), \(audit.actor), \(audit.action), \(audit.outcome.rawValue), \(audit.targetType),
                   \(audit.targetID), \(audit.errorCode), \(details)::jsonb
            FROM advanced
            RETURNING true
            """, logger: logger)
        for try await _ in rows.decode(Bool.self) { return .recorded }
        let standing = try await client.query("""
            SELECT last_crl_number::text, \(number)::numeric > last_crl_number FROM issuer_generations
            WHERE issuer_id = \(issuerID) AND generation = \(generation)
            """, logger: logger)
        for try await (last, increases) in standing.decode((String, Bool).self) {
            return increases ? .stepTooLarge(last: last) : .notIncreasing(last: last)
        }
        return .notIncreasing(last: "none")
    }

    static func json(_ details: [String: String]) throws -> String {
        String(decoding: try JSONEncoder().encode(details), as: UTF8.self)
    }
}
