import CertctlIssuance
import CertctlPKI
import CertctlStore
import Foundation

/// The certificate resource as the API returns it.
struct CertificateJSON: Encodable {
    struct Revocation: Encodable {
        let reason: String
        let reason_code: Int
        let revoked_at: Date
        let invalidity_date: Date?
        let revoked_by: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(reason, forKey: .reason)
            try c.encode(reason_code, forKey: .reason_code)
            try c.encode(revoked_at, forKey: .revoked_at)
            try c.encode(invalidity_date, forKey: .invalidity_date)
            try c.encode(revoked_by, forKey: .revoked_by)
        }

        enum CodingKeys: String, CodingKey { case reason, reason_code, revoked_at, invalidity_date, revoked_by }
    }

    let id: String
    let serial_hex: String
    let issuer_id: String
    let profile_id: String?
    let status: String
    let subject: String
    let subject_alt_names: [String]
    let not_before: Date?
    let not_after: Date?
    let certificate_pem: String?
    let chain_pem: String?
    let requested_by: String
    let created_at: Date
    let failure_reason: String?
    let revocation: Revocation?

    init(_ record: CertificateRecord, issuerCertificateDER: [UInt8]?) {
        id = record.id.uuidString.lowercased()
        serial_hex = record.serialHex
        issuer_id = record.issuerID
        profile_id = record.profileID
        status = record.status
        subject = record.subject
        subject_alt_names = record.subjectAltNames
        not_before = record.notBefore
        not_after = record.notAfter
        let leaf = record.certificateDER.map(PEM.certificate)
        certificate_pem = leaf
        chain_pem = leaf.map { $0 + (issuerCertificateDER.map(PEM.certificate) ?? "") }
        requested_by = record.requestedBy
        created_at = record.createdAt
        failure_reason = record.failureReason
        revocation = record.revocation.map {
            Revocation(reason: RevocationReason(rawValue: $0.reasonCode)?.name ?? "unspecified", reason_code: $0.reasonCode,
                       revoked_at: $0.revokedAt, invalidity_date: $0.invalidityDate, revoked_by: $0.revokedBy)
        }
    }

    // Encode absent optionals as null so clients see every field.
    enum CodingKeys: String, CodingKey {
        case id, serial_hex, issuer_id, profile_id, status, subject, subject_alt_names, not_before, not_after,
             certificate_pem, chain_pem, requested_by, created_at, failure_reason, revocation
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(serial_hex, forKey: .serial_hex)
        try c.encode(issuer_id, forKey: .issuer_id)
        try c.encode(profile_id, forKey: .profile_id)
        try c.encode(status, forKey: .status)
        try c.encode(subject, forKey: .subject)
        try c.encode(subject_alt_names, forKey: .subject_alt_names)
        try c.encode(not_before, forKey: .not_before)
        try c.encode(not_after, forKey: .not_after)
        try c.encode(certificate_pem, forKey: .certificate_pem)
        try c.encode(chain_pem, forKey: .chain_pem)
        try c.encode(requested_by, forKey: .requested_by)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(failure_reason, forKey: .failure_reason)
        try c.encode(revocation, forKey: .revocation)
    }
}

struct Page<Item: Encodable>: Encodable {
    let items: [Item]
    let next_cursor: String?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(next_cursor, forKey: .next_cursor)
    }

    enum CodingKeys: String, CodingKey { case items, next_cursor }
}
