import CertctlPKI
import CertctlStore
import Foundation
import X509

/// Whether a certificate a client authenticates with still stands in certctl's records (issue #12 §4):
/// the certificate a SCEP RenewalReq is signed with or an EST simplereenroll presents, and a
/// certctl-issued client certificate of mTLS simpleenroll. SCEP and EST map each refusal to their own
/// code and answer (`scep_renewal_<code>`, `est_reenroll_<code>`, `est_client_certificate_<code>`).
struct CertificateStanding: Sendable {
    let issuers: IssuerStore
    let certificates: CertificateRecordStore

    enum Refusal: Error, Equatable, CustomStringConvertible {
        /// Does not chain to the endpoint's issuer (or is not valid yet).
        case wrongIssuer(issuerID: String)
        case expired(serial: String)
        /// Not in the database as issued (never issued by certctl, or its reservation failed).
        case unknown(serial: String)
        case revoked(serial: String)
        /// Issued through an endpoint (nil: the admin API) that `endpoint` neither is nor accepts.
        case otherEndpoint(issuedBy: String?, endpoint: String)
        case subjectMismatch(expected: String)
        case sanMismatch(expected: [String], requested: [String])

        var code: String {
            switch self {
            case .wrongIssuer: "wrong_issuer"
            case .expired: "expired"
            case .unknown: "unknown"
            case .revoked: "revoked"
            case .otherEndpoint: "other_endpoint"
            case .subjectMismatch: "subject_mismatch"
            case .sanMismatch: "san_mismatch"
            }
        }

        var description: String {
            switch self {
            case .wrongIssuer(let issuerID): "the certificate is not a valid certificate of issuer \(issuerID)"
            case .expired(let serial): "certificate \(serial) has expired"
            case .unknown(let serial): "certificate \(serial) is not one certctl issued"
            case .revoked(let serial): "certificate \(serial) is revoked"
            case .otherEndpoint(let issuedBy, let endpoint):
                "the certificate was issued through \(issuedBy ?? "the admin API"), which \(endpoint) does not renew (accept_renewals_from)"
            case .subjectMismatch(let expected): "the CSR must keep the certificate's subject (\(expected))"
            case .sanMismatch(let expected, let requested):
                "the CSR must request the certificate's subjectAltNames \(expected), not \(requested)"
            }
        }
    }

    /// The record of `certificate` if it is `issuerID`'s, issued, not revoked (nor on hold) and not expired.
    func current(_ certificate: Certificate, issuerID: String, now: Date = Date()) async throws -> CertificateRecord {
        guard let serial = SerialNumber.canonicalHex(ofDERInteger: Array(certificate.serialNumber.bytes)) else {
            throw Refusal.unknown(serial: Self.serialText(certificate))
        }
        guard let record = try await certificates.get(issuerID: issuerID, serialHex: serial) else { throw Refusal.unknown(serial: serial) }
        if record.status == "revoked" || record.revocation != nil { throw Refusal.revoked(serial: serial) }
        guard record.status == "issued" else { throw Refusal.unknown(serial: serial) }
        guard (record.notAfter ?? .distantPast) > now else { throw Refusal.expired(serial: serial) }
        return record
    }

    /// A RenewalReq or simplereenroll on `endpoint` (`EnrollmentEndpoint` form, issuing for `issuerID`) renews
    /// `current` with `csr` only if `current` is a current certificate of that issuer, issued through `endpoint`
    /// or one it accepts, and `csr` asks for the same subject and the same set of subjectAltNames.
    /// Returns the renewed certificate's record.
    func renewable(_ current: Certificate, csr: CertificateSigningRequest, issuerID: String, endpoint: String,
                   accepts: [String], now: Date = Date()) async throws -> CertificateRecord {
        // Before the chain check, which refuses expired certificates too: an expired one gets its own code.
        guard current.notValidAfter > now else { throw Refusal.expired(serial: Self.serialText(current)) }
        guard let issuer = try await issuers.get(issuerID), let ca = try? Certificate(derEncoded: issuer.certificateDER),
              await ESTServer.validates(current, intermediates: [], roots: [ca]) else {
            throw Refusal.wrongIssuer(issuerID: issuerID)
        }
        let record = try await self.current(current, issuerID: issuerID, now: now)
        guard let issuedBy = record.enrollmentEndpoint, issuedBy == endpoint || accepts.contains(issuedBy) else {
            throw Refusal.otherEndpoint(issuedBy: record.enrollmentEndpoint, endpoint: endpoint)
        }
        guard csr.subject == current.subject else { throw Refusal.subjectMismatch(expected: current.subject.description) }
        guard csr.subjectAlternativeNameTexts == current.subjectAlternativeNameTexts else {
            throw Refusal.sanMismatch(expected: current.subjectAlternativeNameTexts.sorted(),
                                      requested: csr.subjectAlternativeNameTexts.sorted())
        }
        return record
    }

    /// Audit details naming the certificate a renewal replaces (none for a first enrollment).
    static func auditDetails(renewed: CertificateRecord?) -> [String: String] {
        guard let renewed else { return [:] }
        return ["renewed_serial": renewed.serialHex, "renewed_certificate_id": renewed.id.uuidString.lowercased()]
    }

    /// The serial as certctl stores it (lower-case hex, no leading zeros), or as the certificate has it.
    static func serialText(_ certificate: Certificate) -> String {
        SerialNumber.canonicalHex(ofDERInteger: Array(certificate.serialNumber.bytes)) ?? "\(certificate.serialNumber)"
    }

    /// The certctl issuer whose name `certificate` names as its issuer, if any: such a client certificate
    /// must stand in the database. Other bundle CAs' certificates cannot be checked here.
    func certctlIssuer(of certificate: Certificate) async throws -> IssuerRecord? {
        try await issuers.list().first { (try? Certificate(derEncoded: $0.certificateDER))?.subject == certificate.issuer }
    }
}
