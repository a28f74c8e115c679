import SwiftASN1
import X509
import _CryptoExtras

/// The RA's identity: its certificate and RSA key (SCEP envelopes to it and it signs CertReps).
// @unchecked: the swift-crypto RSA key types are immutable wrappers that are
// not marked Sendable; this value is never mutated after init.
public struct SCEPRAIdentity: @unchecked Sendable {
    public var certificate: Certificate
    public var signingKey: _RSA.Signing.PrivateKey
    public var decryptionKey: _RSA.Encryption.PrivateKey

    public init(certificate: Certificate, keyPEM: String) throws {
        self.certificate = certificate
        signingKey = try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM)
        decryptionKey = try _RSA.Encryption.PrivateKey(pemRepresentation: keyPEM)
        guard _RSA.Signing.PublicKey(certificate.publicKey)?.derRepresentation == signingKey.publicKey.derRepresentation else {
            throw SCEPError("scep_ra_key_mismatch", .badRequest, "the RA key does not belong to the RA certificate")
        }
    }
}

/// A client's pkiMessage (RFC 8894 §3.2): SignedData whose signed attributes
/// carry the SCEP fields and whose content is an EnvelopedData to the RA.
public struct SCEPPKIMessage: Sendable {
    public var messageType: SCEPMessageType
    public var transactionID: String
    public var senderNonce: [UInt8]
    /// The certificate that signed the message (self-signed for PKCSReq).
    public var signerCertificate: Certificate
    public var digest: CMSDigest
    public var signedData: CMSSignedData

    /// Step 1 — parse: enough to answer with a CertRep (transactionID, nonce,
    /// signer certificate). Errors here get HTTP 400: there is nobody to answer.
    public static func parse(_ bytes: some Collection<UInt8>) throws(SCEPError) -> SCEPPKIMessage {
        let signed: CMSSignedData
        do { signed = try CMS.signedData(bytes) } catch { throw SCEPError.from(error) }
        guard signed.signerInfos.count == 1, let signer = signed.signerInfos.first else {
            throw SCEPError("scep_malformed_message", .badRequest, "a pkiMessage has exactly one signer")
        }
        guard let certificate = signed.certificates.first(where: { signer.sid.identifies($0) }) else {
            throw SCEPError.from(.signerCertificateMissing)
        }
        let attrs = signer.signedAttrs
        do {
            guard let typeValue = try attrs.single(SCEPOID.messageType),
                  let type = SCEPMessageType(rawValue: try Self.string(typeValue)) else {
                throw SCEPError("scep_malformed_message", .badRequest, "messageType missing or unknown")
            }
            guard let idValue = try attrs.single(SCEPOID.transactionID), case let id = try Self.string(idValue),
                  !id.isEmpty, id.utf8.count <= 256 else {
                throw SCEPError("scep_malformed_message", .badRequest, "transactionID missing, empty or longer than 256")
            }
            guard let nonceValue = try attrs.single(SCEPOID.senderNonce),
                  case let nonce = Array(try ASN1OctetString(asn1Any: nonceValue).bytes), nonce.count == 16 else {
                throw SCEPError("scep_malformed_message", .badRequest, "senderNonce missing or not 16 bytes")
            }
            let digest: CMSDigest
            do { digest = try CMSDigest(signer.digestAlgorithm.algorithm) } catch { throw SCEPError.from(error) }
            return SCEPPKIMessage(messageType: type, transactionID: id, senderNonce: nonce, signerCertificate: certificate,
                                  digest: digest, signedData: signed)
        } catch let error as SCEPError {
            throw error
        } catch {
            throw SCEPError("scep_malformed_message", .badRequest, "SCEP attributes: \(error)")
        }
    }

    /// Step 2 — check the signature, then decrypt the envelope with the RA key.
    /// Returns the inner messageData (a PKCS#10 request for PKCSReq).
    public func open(with ra: SCEPRAIdentity) throws(SCEPError) -> [UInt8] {
        do {
            _ = try CMS.verify(signedData)
            guard let content = signedData.encapContentInfo.eContent, signedData.encapContentInfo.eContentType == CMSOID.data else {
                throw CMSError.malformed("pkiMessage content is not id-data")
            }
            let enveloped = try CMS.envelopedData(content)
            return try CMS.open(enveloped, recipient: ra.certificate, key: ra.decryptionKey)
        } catch let error as CMSError {
            throw SCEPError.from(error)
        } catch {
            throw SCEPError("scep_malformed_message", .badRequest, "\(error)")
        }
    }

    /// The content-encryption algorithm the envelope names, if the envelope parses.
    public var contentEncryptionAlgorithm: ASN1ObjectIdentifier? {
        guard let content = signedData.encapContentInfo.eContent, let enveloped = try? CMS.envelopedData(content) else { return nil }
        return enveloped.encryptedContentInfo.contentEncryptionAlgorithm.algorithm
    }

    /// The content-encryption algorithm the client used, so the reply uses it too.
    public func contentCipher() -> CMSContentCipher {
        guard let content = signedData.encapContentInfo.eContent, let enveloped = try? CMS.envelopedData(content),
              let cipher = try? CMSContentCipher(enveloped.encryptedContentInfo.contentEncryptionAlgorithm.algorithm) else {
            return .aes256
        }
        return cipher
    }

    static func string(_ value: ASN1Any) throws -> String {
        if let printable = try? ASN1PrintableString(asn1Any: value) { return String(printable) }
        if let utf8 = try? ASN1UTF8String(asn1Any: value) { return String(utf8) }
        return String(try ASN1IA5String(asn1Any: value))
    }
}

/// Builds CertRep messages (RFC 8894 §3.3.2), signed by the RA.
public enum SCEPCertRep {
    public enum Outcome {
        /// The issued certificate (plus chain), enveloped to `recipient`.
        case success(certificates: [Certificate], recipient: Certificate, cipher: CMSContentCipher)
        case failure(SCEPFailInfo)
        case pending
    }

    public static func build(
        _ outcome: Outcome, transactionID: String, recipientNonce: [UInt8], digest: CMSDigest, ra: SCEPRAIdentity,
        senderNonce: [UInt8] = Array((0..<16).map { _ in UInt8.random(in: 0...255) })
    ) throws -> [UInt8] {
        var attrs: [CMSAttribute] = [
            try attribute(SCEPOID.messageType, ASN1PrintableString(SCEPMessageType.certRep.rawValue)),
            try attribute(SCEPOID.transactionID, ASN1PrintableString(transactionID)),
            try attribute(SCEPOID.senderNonce, ASN1OctetString(contentBytes: senderNonce[...])),
            try attribute(SCEPOID.recipientNonce, ASN1OctetString(contentBytes: recipientNonce[...])),
        ]
        var content: [UInt8] = []
        switch outcome {
        case .success(let certificates, let recipient, let cipher):
            attrs.append(try attribute(SCEPOID.pkiStatus, ASN1PrintableString(SCEPPKIStatus.success.rawValue)))
            let degenerate = try CMSSignedData.certsOnly(certificates)
            content = try CMS.contentInfoDER(try CMS.seal(degenerate, to: recipient, cipher: cipher))
        case .failure(let info):
            attrs.append(try attribute(SCEPOID.pkiStatus, ASN1PrintableString(SCEPPKIStatus.failure.rawValue)))
            attrs.append(try attribute(SCEPOID.failInfo, ASN1PrintableString(info.rawValue)))
        case .pending:
            attrs.append(try attribute(SCEPOID.pkiStatus, ASN1PrintableString(SCEPPKIStatus.pending.rawValue)))
        }
        // A CertRep's digest follows the request, except that we never sign with SHA-1.
        let replyDigest: CMSDigest = digest == .sha1 ? .sha256 : digest
        let signed = try CMS.sign(content: content, attributes: attrs, certificate: ra.certificate, key: ra.signingKey,
                                  digest: replyDigest, includeCertificates: [ra.certificate])
        return try signed.contentInfoDER()
    }

    static func attribute(_ oid: ASN1ObjectIdentifier, _ value: some DERSerializable) throws -> CMSAttribute {
        CMSAttribute(attrType: oid, attrValues: [try ASN1Any(erasing: value)])
    }
}
