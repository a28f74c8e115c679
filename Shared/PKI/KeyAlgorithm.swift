import Crypto
import X509
import _CryptoExtras

/// Public-key algorithms certctl issues for and signs with, by profile name.
public enum KeyAlgorithm: String, Sendable, CaseIterable, Codable {
    case ecdsaP256 = "ecdsa-p256"
    case ecdsaP384 = "ecdsa-p384"
    case rsa2048 = "rsa-2048"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"

    /// Identifies a public key's algorithm; nil for anything certctl does not
    /// support (P-521, Ed25519, RSA of other sizes such as 1024).
    public init?(_ key: Certificate.PublicKey) {
        if P256.Signing.PublicKey(key) != nil { self = .ecdsaP256; return }
        if P384.Signing.PublicKey(key) != nil { self = .ecdsaP384; return }
        if let rsa = _RSA.Signing.PublicKey(key) {
            switch rsa.keySizeInBits {
            case 2048: self = .rsa2048
            case 3072: self = .rsa3072
            case 4096: self = .rsa4096
            default: return nil
            }
            return
        }
        return nil
    }

    public var isRSA: Bool { self == .rsa2048 || self == .rsa3072 || self == .rsa4096 }

    /// The signature algorithm a CA key of this type signs with.
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch self {
        case .ecdsaP256: return .ecdsaWithSHA256
        case .ecdsaP384: return .ecdsaWithSHA384
        case .rsa2048, .rsa3072, .rsa4096: return .sha256WithRSAEncryption
        }
    }

    /// A human description of a key this enum does not cover, for error messages.
    public static func describeUnsupported(_ key: Certificate.PublicKey) -> String {
        if let rsa = _RSA.Signing.PublicKey(key) { return "rsa-\(rsa.keySizeInBits)" }
        if P521.Signing.PublicKey(key) != nil { return "ecdsa-p521" }
        return "unsupported key type"
    }
}
