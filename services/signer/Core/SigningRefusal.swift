import CertctlPKI

/// Why the signer refuses a request. `code` goes into the audit log, the
/// refusal metric and the `certctl-refusal-code` trailer callers read
/// (docs/signer.md lists every code).
package enum SigningRefusal: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case messageTooLarge(String)
    case signatureAlgorithm(String)
    case issuerMismatch(String)
    case generationRetired(String)
    case validity(String)
    case serial(String)
    case notAllowed(ProfileViolation)
    case extensions(String)
    case malformedExtension(String)
    case noReservation(String)
    case reservationMismatch(String)
    case profileNotAllowedForCaller(String)
    case crlNumber(String)
    case crlNumberStep(String)
    case crlTime(String)
    case crlContents(String)
    /// This machine's clock and the database server's disagree beyond CERTCTL_SIGNER_MAX_CLOCK_SKEW.
    case clockSkew(String)

    package var code: String {
        switch self {
        case .malformed: return "malformed_tbs"
        case .messageTooLarge: return "message_too_large"
        case .signatureAlgorithm: return "signature_algorithm_mismatch"
        case .issuerMismatch: return "issuer_mismatch"
        case .generationRetired: return "generation_retired"
        case .validity: return "validity_outside_ca"
        case .serial: return "serial_invalid"
        case .notAllowed(let violation): return violation.code
        case .extensions: return "extension_not_allowed"
        case .malformedExtension: return "extension_malformed"
        case .noReservation: return "no_reservation"
        case .reservationMismatch: return "reservation_mismatch"
        case .profileNotAllowedForCaller: return "profile_not_allowed_for_caller"
        case .crlNumber: return "crl_number_not_increasing"
        case .crlNumberStep: return "crl_number_step_too_large"
        case .crlTime: return "crl_time_invalid"
        case .crlContents: return "crl_contents_mismatch"
        case .clockSkew: return "clock_skew"
        }
    }

    package var description: String {
        switch self {
        case .malformed(let text), .messageTooLarge(let text), .signatureAlgorithm(let text), .issuerMismatch(let text),
             .generationRetired(let text), .validity(let text), .serial(let text), .extensions(let text),
             .malformedExtension(let text), .noReservation(let text), .reservationMismatch(let text),
             .profileNotAllowedForCaller(let text), .crlNumber(let text), .crlNumberStep(let text), .crlTime(let text),
             .crlContents(let text), .clockSkew(let text):
            return text
        case .notAllowed(let violation): return violation.description
        }
    }
}
