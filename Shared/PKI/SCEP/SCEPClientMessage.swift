import SwiftASN1
import X509

/// The client side of SCEP, for tests and tools: builds a PKCSReq and reads a
/// CertRep. The server never uses it, so a bug here cannot hide one there:
/// the interop suites check the server against real clients.
public enum SCEPClientMessage {
    /// A PKCSReq (or RenewalReq) pkiMessage: `csrDER` enveloped to `ra`, signed by `client`.
    public static func pkcsReq(
        csrDER: [UInt8], transactionID: String, senderNonce: [UInt8], client: SCEPRAIdentity, ra: Certificate,
        cipher: CMSContentCipher = .aes256, digest: CMSDigest = .sha256, messageType: SCEPMessageType = .pkcsReq
    ) throws -> [UInt8] {
        let enveloped = try CMS.contentInfoDER(try CMS.seal(csrDER, to: ra, cipher: cipher))
        let attrs = [
            try SCEPCertRep.attribute(SCEPOID.messageType, ASN1PrintableString(messageType.rawValue)),
            try SCEPCertRep.attribute(SCEPOID.transactionID, ASN1PrintableString(transactionID)),
            try SCEPCertRep.attribute(SCEPOID.senderNonce, ASN1OctetString(contentBytes: senderNonce[...])),
        ]
        return try CMS.sign(content: enveloped, attributes: attrs, certificate: client.certificate, key: client.signingKey,
                            digest: digest, includeCertificates: [client.certificate]).contentInfoDER()
    }

    /// A CertPoll (GetCertInitial, RFC 8894 §3.3.3) for the request of `transactionID`:
    /// IssuerAndSubject enveloped to `ra`, signed by the same `client` as the request.
    public static func certPoll(
        issuer: DistinguishedName, subject: DistinguishedName, transactionID: String, senderNonce: [UInt8],
        client: SCEPRAIdentity, ra: Certificate
    ) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(SCEPIssuerAndSubject(issuer: issuer, subject: subject))
        return try pkcsReq(csrDER: serializer.serializedBytes, transactionID: transactionID, senderNonce: senderNonce,
                           client: client, ra: ra, messageType: .certPoll)
    }

    /// What a CertRep says.
    public struct Reply: Sendable {
        public var status: SCEPPKIStatus
        public var failInfo: SCEPFailInfo?
        public var transactionID: String
        public var recipientNonce: [UInt8]
        public var certificates: [Certificate]
    }

    /// Verifies a CertRep signed by `ra` and, on SUCCESS, decrypts the certificates with `client`'s key.
    public static func readCertRep(_ bytes: [UInt8], ra: Certificate, client: SCEPRAIdentity) throws -> Reply {
        let signed = try CMS.signedData(bytes)
        let (signer, info) = try CMS.verify(signed)
        guard signer == ra else { throw CMSError.malformed("CertRep not signed by the RA") }
        func text(_ oid: ASN1ObjectIdentifier) throws -> String? {
            try info.signedAttrs.single(oid).map { try SCEPPKIMessage.string($0) }
        }
        guard let statusText = try text(SCEPOID.pkiStatus), let status = SCEPPKIStatus(rawValue: statusText),
              try text(SCEPOID.messageType) == SCEPMessageType.certRep.rawValue,
              let transactionID = try text(SCEPOID.transactionID),
              let nonce = try info.signedAttrs.single(SCEPOID.recipientNonce) else {
            throw CMSError.malformed("CertRep attributes missing")
        }
        var reply = Reply(status: status, failInfo: try text(SCEPOID.failInfo).flatMap(SCEPFailInfo.init(rawValue:)),
                          transactionID: transactionID, recipientNonce: Array(try ASN1OctetString(asn1Any: nonce).bytes),
                          certificates: [])
        if status == .success, let content = signed.encapContentInfo.eContent {
            let inner = try CMS.open(try CMS.envelopedData(content), recipient: client.certificate, key: client.decryptionKey)
            reply.certificates = try CMS.signedData(inner).certificates
        }
        return reply
    }
}
