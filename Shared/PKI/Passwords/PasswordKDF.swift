import Crypto
import _CryptoExtras

/// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) for stored password hashes. It lives
/// here because this module links `_CryptoExtras`; the stored format and its
/// verification are the store's (EnrollmentESTStore).
public enum PasswordKDF {
    /// OWASP's figure for PBKDF2-HMAC-SHA256 (Password Storage Cheat Sheet), also swift-crypto's floor.
    public static let minimumIterations = 210_000

    /// The derived key of `password`; throws below `minimumIterations`.
    public static func pbkdf2SHA256(_ password: String, salt: [UInt8], iterations: Int, outputBytes: Int = 32) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256,
                                                    outputByteCount: outputBytes, rounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }
}
