import Crypto
import SwiftASN1
import X509
import _CryptoExtras

/// A password-protected PKCS#12 file (RFC 7292) holding certificates only:
/// certctl never has the subscriber's private key. Modern algorithms only:
/// the certificate bags are encrypted with PBES2 (PBKDF2-HMAC-SHA256,
/// AES-256-CBC; RFC 8018) and the whole is MACed with HMAC-SHA256 under a key
/// from RFC 7292 Appendix B's KDF. OpenSSL 3 reads it as it writes its own
/// default (`openssl pkcs12 -export` without `-legacy`).
public enum PKCS12 {
    static let pbes2: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 5, 13]
    static let pbkdf2: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 5, 12]
    static let hmacWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 113549, 2, 9]
    static let encryptedData: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 7, 6]
    static let certBag: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 12, 10, 1, 3]
    static let x509Certificate: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 9, 22, 1]

    /// PBKDF2 rounds for the encryption key: swift-crypto's floor, OWASP's figure for PBKDF2-HMAC-SHA256.
    public static let encryptionIterations = 210_000
    /// Rounds of the RFC 7292 KDF for the MAC key: OpenSSL's default.
    public static let macIterations = 2_048

    public enum BuildError: Error, Equatable {
        case noCertificates
        case emptyPassword
    }

    /// The DER of a PFX holding `certificates` (leaf first), protected by `password`.
    public static func build(certificates: [Certificate], password: String) throws -> [UInt8] {
        guard !certificates.isEmpty else { throw BuildError.noCertificates }
        guard !password.isEmpty else { throw BuildError.emptyPassword }
        let safeContents = try der { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                for certificate in certificates {
                    var certificateCoder = DER.Serializer()
                    try certificateCoder.serialize(certificate)
                    try serializeCertBag(certificateCoder.serializedBytes, into: &coder)
                }
            }
        }
        let salt = random(16), iv = random(16)
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256,
                                                    outputByteCount: 32, rounds: encryptionIterations)
        let ciphertext = Array(try AES._CBC.encrypt(safeContents, using: key, iv: try AES._CBC.IV(ivBytes: iv)))
        let authenticatedSafe = try der { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try serializeEncryptedData(ciphertext, salt: salt, iv: iv, into: &coder)
            }
        }
        let macSalt = random(16)
        let macKey = kdf(password: password, salt: macSalt, id: 3, iterations: macIterations, length: 32)
        let mac = Array(HMAC<SHA256>.authenticationCode(for: authenticatedSafe, using: SymmetricKey(data: macKey)))
        return try der { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(3)
                try coder.appendConstructedNode(identifier: .sequence) { coder in  // ContentInfo (data)
                    try coder.serialize(CMSOID.data)
                    try coder.serialize(ASN1OctetString(contentBytes: authenticatedSafe[...]),
                                        explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
                }
                try coder.appendConstructedNode(identifier: .sequence) { coder in  // MacData
                    try coder.appendConstructedNode(identifier: .sequence) { coder in  // DigestInfo
                        try coder.serialize(CMSAlgorithmIdentifier.withNull(CMSOID.sha256))
                        try coder.serialize(ASN1OctetString(contentBytes: mac[...]))
                    }
                    try coder.serialize(ASN1OctetString(contentBytes: macSalt[...]))
                    try coder.serialize(macIterations)
                }
            }
        }
    }

    /// SafeBag { certBag, [0] EXPLICIT CertBag { x509Certificate, [0] EXPLICIT OCTET STRING } }
    static func serializeCertBag(_ certificateDER: [UInt8], into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(certBag)
            try coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(x509Certificate)
                    try coder.serialize(ASN1OctetString(contentBytes: certificateDER[...]),
                                        explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
                }
            }
        }
    }

    /// ContentInfo { encryptedData, [0] EXPLICIT EncryptedData { 0, EncryptedContentInfo { data, PBES2, [0] IMPLICIT … } } }
    static func serializeEncryptedData(_ ciphertext: [UInt8], salt: [UInt8], iv: [UInt8], into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(encryptedData)
            try coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(0)
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(CMSOID.data)
                        try serializePBES2(salt: salt, iv: iv, into: &coder)
                        try ASN1OctetString(contentBytes: ciphertext[...])
                            .serialize(into: &coder, withIdentifier: .init(tagWithNumber: 0, tagClass: .contextSpecific))
                    }
                }
            }
        }
    }

    static func serializePBES2(salt: [UInt8], iv: [UInt8], into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(pbes2)
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(pbkdf2)
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(ASN1OctetString(contentBytes: salt[...]))
                        try coder.serialize(encryptionIterations)
                        try coder.serialize(32)
                        try coder.serialize(CMSAlgorithmIdentifier.withNull(hmacWithSHA256))
                    }
                }
                try coder.serialize(CMSAlgorithmIdentifier(algorithm: CMSOID.aes256CBC,
                                                           parameters: try ASN1Any(erasing: ASN1OctetString(contentBytes: iv[...]))))
            }
        }
    }

    /// RFC 7292 Appendix B.2 with SHA-256 (u = 32, v = 64); the password as a NUL-terminated BMPString.
    static func kdf(password: String, salt: [UInt8], id: UInt8, iterations: Int, length: Int) -> [UInt8] {
        let v = 64
        var passwordBytes: [UInt8] = []
        for unit in password.utf16 { passwordBytes += [UInt8(unit >> 8), UInt8(unit & 0xff)] }
        passwordBytes += [0, 0]
        func stretch(_ bytes: [UInt8]) -> [UInt8] {
            guard !bytes.isEmpty else { return [] }
            let count = v * ((bytes.count + v - 1) / v)
            return (0..<count).map { bytes[$0 % bytes.count] }
        }
        var input = stretch(salt) + stretch(passwordBytes)
        let diversifier = [UInt8](repeating: id, count: v)
        var output: [UInt8] = []
        while output.count < length {
            var block = Array(SHA256.hash(data: diversifier + input))
            for _ in 1..<max(iterations, 1) { block = Array(SHA256.hash(data: block)) }
            output += block
            guard output.count < length else { break }
            // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, B = A repeated to v bytes.
            let b = stretch(block)
            for start in stride(from: 0, to: input.count, by: v) {
                var carry = 1
                for k in stride(from: v - 1, through: 0, by: -1) {
                    let sum = Int(input[start + k]) + Int(b[k]) + carry
                    input[start + k] = UInt8(sum & 0xff)
                    carry = sum >> 8
                }
            }
        }
        return Array(output.prefix(length))
    }

    static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func der(_ body: (inout DER.Serializer) throws -> Void) throws -> [UInt8] {
        var coder = DER.Serializer()
        try body(&coder)
        return coder.serializedBytes
    }
}
