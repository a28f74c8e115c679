import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// What can go wrong reading or checking a CMS structure.
public enum CMSError: Error, Equatable, Sendable {
    /// Not BER/DER, or not the structure RFC 5652 defines.
    case malformed(String)
    case wrongContentType(expected: String, got: String)
    case unsupportedAlgorithm(String)
    /// No certificate in the SignedData matches the SignerInfo's issuerAndSerialNumber.
    case signerCertificateMissing
    case messageDigestMismatch
    case badSignature
    /// The EnvelopedData has no recipient info for our certificate.
    case notForThisRecipient
    case decryptionFailed(String)
}

/// Digests CMS signatures may use. SHA-1 is accepted from clients (many SCEP
/// clients still default to it) but never chosen by us.
public enum CMSDigest: Sendable, Equatable {
    case sha1, sha256, sha512

    public init(_ oid: ASN1ObjectIdentifier) throws(CMSError) {
        switch oid {
        case CMSOID.sha1: self = .sha1
        case CMSOID.sha256: self = .sha256
        case CMSOID.sha512: self = .sha512
        default: throw .unsupportedAlgorithm("digest algorithm \(oid)")
        }
    }

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .sha1: CMSOID.sha1
        case .sha256: CMSOID.sha256
        case .sha512: CMSOID.sha512
        }
    }

    public func hash(_ bytes: some DataProtocol) -> [UInt8] {
        switch self {
        case .sha1: Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }

    func sign(_ bytes: [UInt8], with key: _RSA.Signing.PrivateKey) throws -> [UInt8] {
        let signature: _RSA.Signing.RSASignature
        switch self {
        case .sha1: signature = try key.signature(for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .sha256: signature = try key.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .sha512: signature = try key.signature(for: SHA512.hash(data: bytes), padding: .insecurePKCS1v1_5)
        }
        return Array(signature.rawRepresentation)
    }

    func verify(_ signature: ArraySlice<UInt8>, over bytes: [UInt8], with key: _RSA.Signing.PublicKey) -> Bool {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: signature)
        switch self {
        case .sha1: return key.isValidSignature(signature, for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .sha256: return key.isValidSignature(signature, for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .sha512: return key.isValidSignature(signature, for: SHA512.hash(data: bytes), padding: .insecurePKCS1v1_5)
        }
    }
}

/// Content encryption: AES-CBC (RFC 3565) through swift-crypto; DES-CBC and
/// DES-EDE3-CBC (old SCEP clients) through the system libcrypto when present
/// (see LegacyDES), refused with `unsupportedAlgorithm` otherwise.
public enum CMSContentCipher: Sendable, Equatable {
    case aes128, aes192, aes256, des, desEDE3

    public init(_ oid: ASN1ObjectIdentifier) throws(CMSError) {
        switch oid {
        case CMSOID.aes128CBC: self = .aes128
        case CMSOID.aes192CBC: self = .aes192
        case CMSOID.aes256CBC: self = .aes256
        case CMSOID.desCBC, CMSOID.desEDE3CBC:
            guard LegacyDES.isAvailable else {
                throw .unsupportedAlgorithm("\(oid == CMSOID.desCBC ? "des-cbc" : "des-ede3-cbc") needs the system libcrypto, which is not installed; use AES")
            }
            self = oid == CMSOID.desCBC ? .des : .desEDE3
        default: throw .unsupportedAlgorithm("content encryption algorithm \(oid)")
        }
    }

    /// Whether DES/3DES envelopes can be read here (GetCACaps advertises DES3 only then).
    public static var legacyDESAvailable: Bool { LegacyDES.isAvailable }

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .aes128: CMSOID.aes128CBC
        case .aes192: CMSOID.aes192CBC
        case .aes256: CMSOID.aes256CBC
        case .des: CMSOID.desCBC
        case .desEDE3: CMSOID.desEDE3CBC
        }
    }

    var keyBytes: Int {
        switch self {
        case .aes128: 16
        case .aes192, .desEDE3: 24
        case .aes256: 32
        case .des: 8
        }
    }

    var ivBytes: Int {
        switch self {
        case .des, .desEDE3: 8
        default: 16
        }
    }

    func crypt(_ data: [UInt8], key: [UInt8], iv: [UInt8], encrypt: Bool) throws(CMSError) -> [UInt8] {
        switch self {
        case .des, .desEDE3:
            return try LegacyDES.crypt(data, key: key, iv: iv, encrypt: encrypt)
        default:
            do {
                let symmetric = SymmetricKey(data: key)
                let ivValue = try AES._CBC.IV(ivBytes: iv)
                return encrypt ? Array(try AES._CBC.encrypt(data, using: symmetric, iv: ivValue))
                               : Array(try AES._CBC.decrypt(data, using: symmetric, iv: ivValue))
            } catch {
                throw .decryptionFailed("AES-CBC \(encrypt ? "encryption" : "decryption") failed (bad padding)")
            }
        }
    }
}

/// Parsing entry points: pure functions from bytes.
public enum CMS {
    /// A ContentInfo of `expected` type; returns its content node's DER.
    public static func contentInfo(_ bytes: some Collection<UInt8>, expected: ASN1ObjectIdentifier) throws(CMSError) -> ASN1Any {
        let info: CMSContentInfo
        do {
            info = try CMSContentInfo(derEncoded: BER.parse(Array(bytes)))
        } catch {
            throw .malformed("not a CMS ContentInfo: \(error)")
        }
        guard info.contentType == expected else {
            throw .wrongContentType(expected: "\(expected)", got: "\(info.contentType)")
        }
        return info.content
    }

    public static func signedData(_ bytes: some Collection<UInt8>) throws(CMSError) -> CMSSignedData {
        let content = try contentInfo(bytes, expected: CMSOID.signedData)
        do { return try CMSSignedData(asn1Any: content) } catch { throw .malformed("SignedData: \(error)") }
    }

    public static func envelopedData(_ bytes: some Collection<UInt8>) throws(CMSError) -> CMSEnvelopedData {
        let content = try contentInfo(bytes, expected: CMSOID.envelopedData)
        do { return try CMSEnvelopedData(asn1Any: content) } catch { throw .malformed("EnvelopedData: \(error)") }
    }

    /// Checks the single signer's signature over its signed attributes and the
    /// messageDigest/contentType attributes against the content (RFC 5652 §5.4, §11).
    /// Returns the signer's certificate (taken from the SignedData itself).
    public static func verify(_ signed: CMSSignedData) throws(CMSError) -> (certificate: Certificate, signer: CMSSignerInfo) {
        guard signed.signerInfos.count == 1, let signer = signed.signerInfos.first else {
            throw .malformed("expected exactly one SignerInfo, found \(signed.signerInfos.count)")
        }
        guard let certificate = signed.certificates.first(where: { signer.sid.identifies($0) }) else {
            throw .signerCertificateMissing
        }
        let digest = try CMSDigest(signer.digestAlgorithm.algorithm)
        switch signer.signatureAlgorithm.algorithm {
        case CMSOID.rsaEncryption, CMSOID.sha1WithRSA, CMSOID.sha256WithRSA, CMSOID.sha512WithRSA: break
        default: throw .unsupportedAlgorithm("signature algorithm \(signer.signatureAlgorithm.algorithm) (RSA only)")
        }
        guard !signer.signedAttrs.isEmpty else { throw .malformed("SignerInfo has no signed attributes") }
        do {
            guard let type = try signer.signedAttrs.single(CMSOID.contentType),
                  try ASN1ObjectIdentifier(asn1Any: type) == signed.encapContentInfo.eContentType else {
                throw CMSError.malformed("contentType attribute missing or not the eContentType")
            }
            guard let md = try signer.signedAttrs.single(CMSOID.messageDigest) else {
                throw CMSError.malformed("messageDigest attribute missing")
            }
            guard Array(try ASN1OctetString(asn1Any: md).bytes) == digest.hash(signed.encapContentInfo.eContent ?? []) else {
                throw CMSError.messageDigestMismatch
            }
        } catch let error as CMSError {
            throw error
        } catch {
            throw .malformed("signed attributes: \(error)")
        }
        guard let key = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw .unsupportedAlgorithm("the signer's key is not RSA")
        }
        guard digest.verify(signer.signature, over: signer.signedAttrsDER, with: key) else { throw .badSignature }
        return (certificate, signer)
    }

    /// SignedData over `content` (eContentType data) with the given extra signed attributes.
    public static func sign(
        content: [UInt8], attributes: [CMSAttribute], certificate: Certificate, key: _RSA.Signing.PrivateKey,
        digest: CMSDigest, includeCertificates: [Certificate]
    ) throws -> CMSSignedData {
        var attrs = attributes
        attrs.append(CMSAttribute(attrType: CMSOID.contentType, attrValues: [try ASN1Any(erasing: CMSOID.data)]))
        attrs.append(CMSAttribute(attrType: CMSOID.messageDigest,
                                  attrValues: [try ASN1Any(erasing: ASN1OctetString(contentBytes: digest.hash(content)[...]))]))
        let setDER = try CMSSignerInfo.encodeSet(attrs)
        let signature = try digest.sign(setDER, with: key)
        let signer = try CMSSignerInfo(
            sid: CMSIssuerAndSerialNumber(certificate), digestAlgorithm: .withNull(digest.oid), signedAttrs: attrs,
            signatureAlgorithm: .withNull(CMSOID.rsaEncryption), signature: signature[...])
        return CMSSignedData(digestAlgorithms: [.withNull(digest.oid)],
                             encapContentInfo: .init(eContentType: CMSOID.data, eContent: content[...]),
                             certificates: includeCertificates, signerInfos: [signer])
    }

    /// Decrypts an EnvelopedData addressed to `recipient` (RSA PKCS#1 v1.5 key transport, AES-CBC).
    public static func open(_ enveloped: CMSEnvelopedData, recipient: Certificate, key: _RSA.Encryption.PrivateKey) throws(CMSError) -> [UInt8] {
        guard let info = enveloped.recipientInfos.first(where: { $0.rid.identifies(recipient) }) else {
            throw .notForThisRecipient
        }
        guard info.keyEncryptionAlgorithm.algorithm == CMSOID.rsaEncryption else {
            throw .unsupportedAlgorithm("key encryption algorithm \(info.keyEncryptionAlgorithm.algorithm) (rsaEncryption only)")
        }
        let encrypted = enveloped.encryptedContentInfo
        let cipher = try CMSContentCipher(encrypted.contentEncryptionAlgorithm.algorithm)
        guard let parameters = encrypted.contentEncryptionAlgorithm.parameters,
              let iv = try? ASN1OctetString(asn1Any: parameters), iv.bytes.count == cipher.ivBytes else {
            throw .malformed("CBC parameters must be a \(cipher.ivBytes)-byte IV")
        }
        guard let ciphertext = encrypted.encryptedContent else { throw .malformed("EnvelopedData without encryptedContent") }
        // Implicit rejection (against Bleichenbacher's padding oracle): a key-transport block with bad
        // PKCS#1 padding or a key of the wrong length does not end here; the content is decrypted with a
        // key derived from that block instead, so every failure is the same error after the same work.
        var contentKey = syntheticContentKey(info.encryptedKey, length: cipher.keyBytes, recipientKey: key)
        if let decrypted = try? key.decrypt(info.encryptedKey, padding: ._WEAK_AND_INSECURE_PKCS_V1_5),
           decrypted.count == cipher.keyBytes {
            contentKey = Array(decrypted)
        }
        do {
            return try cipher.crypt(Array(ciphertext), key: contentKey, iv: Array(iv.bytes), encrypt: false)
        } catch {
            throw .decryptionFailed("the envelope does not decrypt with this recipient's key")
        }
    }

    /// HMAC-SHA256 of the key-transport block under a secret only the recipient has (a hash of its
    /// private key): the same wrong block always yields the same wrong key, so retries learn nothing.
    static func syntheticContentKey(_ encryptedKey: ArraySlice<UInt8>, length: Int, recipientKey: _RSA.Encryption.PrivateKey) -> [UInt8] {
        let secret = SymmetricKey(data: SHA256.hash(data: recipientKey.derRepresentation))
        return Array(HMAC<SHA256>.authenticationCode(for: Array(encryptedKey), using: secret).prefix(length))
    }

    /// EnvelopedData of `content` for `recipient`'s RSA key.
    public static func seal(_ content: [UInt8], to recipient: Certificate, cipher: CMSContentCipher) throws -> CMSEnvelopedData {
        guard let publicKey = try? _RSA.Encryption.PublicKey(derRepresentation: recipient.publicKey.subjectPublicKeyInfoBytes) else {
            throw CMSError.unsupportedAlgorithm("the recipient's key is not RSA")
        }
        // SystemRandomNumberGenerator is the OS CSPRNG (getrandom on Linux).
        let contentKey = (0..<cipher.keyBytes).map { _ in UInt8.random(in: 0...255) }
        let ivBytes = (0..<cipher.ivBytes).map { _ in UInt8.random(in: 0...255) }
        let ciphertext = try cipher.crypt(content, key: contentKey, iv: ivBytes, encrypt: true)
        let encryptedKey = try publicKey.encrypt(contentKey, padding: ._WEAK_AND_INSECURE_PKCS_V1_5)
        return CMSEnvelopedData(
            recipientInfos: [CMSKeyTransRecipientInfo(rid: CMSIssuerAndSerialNumber(recipient),
                                                      keyEncryptionAlgorithm: .withNull(CMSOID.rsaEncryption),
                                                      encryptedKey: Array(encryptedKey)[...])],
            encryptedContentInfo: CMSEncryptedContentInfo(
                contentType: CMSOID.data,
                contentEncryptionAlgorithm: CMSAlgorithmIdentifier(algorithm: cipher.oid,
                                                                   parameters: try ASN1Any(erasing: ASN1OctetString(contentBytes: ivBytes[...]))),
                encryptedContent: Array(ciphertext)[...]))
    }

    public static func contentInfoDER(_ enveloped: CMSEnvelopedData) throws -> [UInt8] {
        var coder = DER.Serializer()
        try coder.serialize(CMSContentInfo(contentType: CMSOID.envelopedData, content: ASN1Any(erasing: enveloped)))
        return coder.serializedBytes
    }
}
