/// Why the signer refused to make, certify or install a key generation.
/// Each has a code the admin API and CLI show as is.
enum RotationRefusal: Error, CustomStringConvertible {
    case invalid(String)
    case unknownIssuer(String)
    case rotationPending(String)
    case notPending(String)
    case keyMismatch(String)
    case notCA(String)
    case notValid(String)
    case chainBroken(String)
    case keyStorage(String)

    var code: String {
        switch self {
        case .invalid: return "rotation_invalid"
        case .unknownIssuer: return "issuer_not_found"
        case .rotationPending: return "rotation_pending"
        case .notPending: return "generation_not_pending"
        case .keyMismatch: return "certificate_key_mismatch"
        case .notCA: return "certificate_not_ca"
        case .notValid: return "certificate_not_valid"
        case .chainBroken: return "chain_broken"
        case .keyStorage: return "key_storage_failed"
        }
    }

    var description: String {
        switch self {
        case .invalid(let text), .unknownIssuer(let text), .rotationPending(let text), .notPending(let text),
             .keyMismatch(let text), .notCA(let text), .notValid(let text), .chainBroken(let text), .keyStorage(let text):
            return text
        }
    }
}
