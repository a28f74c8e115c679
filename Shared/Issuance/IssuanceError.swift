import CertctlPKI

/// Why an issuance or revocation request was not carried out. `code` is the
/// stable identifier the admin API returns (`{"error": code}`) and SCEP/EST
/// map to their own error forms.
public enum IssuanceError: Error, Equatable, CustomStringConvertible {
    case invalidRequest(String)
    case invalidCSR(String)
    case csrSignatureInvalid
    case profileViolation(ProfileViolation)
    case issuerNotFound(String)
    case profileNotFound(String)
    case certificateNotFound
    case notRevocable(String)
    case invalidReason(String)
    case idempotencyConflict
    case signerUnavailable(String)
    case signerRefused(code: String, message: String)
    /// Postgres refuses writes (`default_transaction_read_only`, a standby): nothing was reserved or signed.
    case databaseReadOnly

    public var code: String {
        switch self {
        case .invalidRequest: return "invalid_request"
        case .invalidCSR: return "invalid_csr"
        case .csrSignatureInvalid: return "csr_signature_invalid"
        case .profileViolation(let violation): return violation.code
        case .issuerNotFound: return "issuer_not_found"
        case .profileNotFound: return "profile_not_found"
        case .certificateNotFound: return "certificate_not_found"
        case .notRevocable: return "not_revocable"
        case .invalidReason: return "invalid_reason"
        case .idempotencyConflict: return "idempotency_conflict"
        case .signerUnavailable: return "signer_unavailable"
        case .signerRefused(let code, _): return "signer_refused_\(code)"
        case .databaseReadOnly: return "database_read_only"
        }
    }

    public var description: String {
        switch self {
        case .invalidRequest(let text), .invalidCSR(let text), .notRevocable(let text), .invalidReason(let text),
             .signerUnavailable(let text):
            return text
        case .csrSignatureInvalid: return "the CSR's signature does not verify with its public key"
        case .profileViolation(let violation): return violation.description
        case .issuerNotFound(let id): return "issuer \(id) does not exist"
        case .profileNotFound(let id): return "profile \(id) does not exist"
        case .certificateNotFound: return "certificate not found"
        case .idempotencyConflict: return "this Idempotency-Key was already used with a different request"
        case .signerRefused(let code, let message): return "the signer refused (\(code)): \(message)"
        case .databaseReadOnly:
            return "the database is read-only (maintenance or failover): nothing was issued; try again later"
        }
    }
}

/// RFC 5280 CRLReason names and codes (7 is unused).
public enum RevocationReason: Int, CaseIterable, Sendable {
    case unspecified = 0, keyCompromise = 1, cACompromise = 2, affiliationChanged = 3, superseded = 4
    case cessationOfOperation = 5, certificateHold = 6, removeFromCRL = 8, privilegeWithdrawn = 9, aACompromise = 10

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var name: String {
        switch self {
        case .unspecified: return "unspecified"
        case .keyCompromise: return "keyCompromise"
        case .cACompromise: return "cACompromise"
        case .affiliationChanged: return "affiliationChanged"
        case .superseded: return "superseded"
        case .cessationOfOperation: return "cessationOfOperation"
        case .certificateHold: return "certificateHold"
        case .removeFromCRL: return "removeFromCRL"
        case .privilegeWithdrawn: return "privilegeWithdrawn"
        case .aACompromise: return "aACompromise"
        }
    }
}
