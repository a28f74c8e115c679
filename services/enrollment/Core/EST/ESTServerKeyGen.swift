import CertctlConfig
import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import X509
import _CryptoExtras

/// RFC 7030 §4.4 serverkeygen: the server makes the key pair (same algorithm
/// as the CSR's key: P-256, P-384 or RSA-2048), re-signs the CSR's subject and
/// attributes with it, and returns the PKCS#8 private key and the certificate
/// as multipart/mixed. The key travels only inside this TLS connection and is
/// never stored.
enum ESTServerKeyGen {
    struct Generated {
        let csr: CertificateSigningRequest
        let pkcs8DER: [UInt8]
    }

    static func generate(like request: CertificateSigningRequest) throws -> Generated {
        let key: Certificate.PrivateKey
        let pkcs8: [UInt8]
        let algorithm: Certificate.SignatureAlgorithm
        if P256.Signing.PublicKey(request.publicKey) != nil {
            let generated = P256.Signing.PrivateKey()
            key = Certificate.PrivateKey(generated); pkcs8 = Array(generated.derRepresentation); algorithm = .ecdsaWithSHA256
        } else if P384.Signing.PublicKey(request.publicKey) != nil {
            let generated = P384.Signing.PrivateKey()
            key = Certificate.PrivateKey(generated); pkcs8 = Array(generated.derRepresentation); algorithm = .ecdsaWithSHA384
        } else if _RSA.Signing.PublicKey(request.publicKey) != nil {
            let generated = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            key = Certificate.PrivateKey(generated); pkcs8 = Array(generated.pkcs8DERRepresentation); algorithm = .sha256WithRSAEncryption
        } else {
            throw ESTRoutes.Refusal(.badRequest, "est_serverkeygen_key_type", "serverkeygen makes P-256, P-384 or RSA keys: send a CSR with one of those")
        }
        // challengePassword is the client's proof, not content of the new request.
        var attributes = CertificateSigningRequest.Attributes()
        for attribute in request.attributes where attribute.oid != [1, 2, 840, 113549, 1, 9, 7] { attributes.insert(attribute) }
        let csr = try CertificateSigningRequest(version: .v1, subject: request.subject, privateKey: key, attributes: attributes,
                                                signatureAlgorithm: algorithm)
        return Generated(csr: csr, pkcs8DER: pkcs8)
    }

    static func response(privateKeyPKCS8 key: [UInt8], certsOnly: [UInt8]) -> Response {
        let boundary = "certctl-est-" + Hex.random(octets: 12)
        func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]) }
        let body = "--\(boundary)\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n\(base64(key))\r\n"
            + "--\(boundary)\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + "\(base64(certsOnly))\r\n--\(boundary)--\r\n"
        var headers = HTTPFields()
        headers[.contentType] = "multipart/mixed; boundary=\(boundary)"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
