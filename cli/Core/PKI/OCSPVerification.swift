import CertctlPKI
import Crypto
import Foundation
import SwiftASN1
import X509

/// Builds an OCSP request for one certificate and checks the answer as a relying party must
/// (RFC 6960 §3.2): signed by the issuer or by a responder certificate the issuer signed for
/// OCSPSigning, about the CertID asked for, echoing our nonce if it echoes one, and current.
struct OCSPVerification {
    let leaf: Certificate
    let issuer: Certificate
    let certID: OCSPCertID
    let nonce: [UInt8]

    init(leaf: Certificate, issuer: Certificate, hash: OCSPHashAlgorithm = .sha1) throws {
        self.leaf = leaf
        self.issuer = issuer
        var name = DER.Serializer()
        try name.serialize(issuer.subject)
        var serial = Array(leaf.serialNumber.bytes.drop { $0 == 0 })
        if serial.isEmpty { serial = [0] }
        certID = OCSPCertID(hashAlgorithm: hash, issuerNameHash: hash.hash(name.serializedBytes),
                            issuerKeyHash: hash.hash(issuer.publicKey.subjectPublicKeyInfoBytes), serialNumber: serial)
        nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
    }

    func requestDER() throws -> [UInt8] { try OCSPRequest(certIDs: [certID], nonce: nonce).serializedBytes }

    struct Answer {
        let single: OCSPSingleResponse
        let producedAt: Date
        let responder: String
        let nonceEchoed: Bool
    }

    /// The verified answer; `verificationFailed` (exit 8) for anything a relying party must reject.
    func verify(_ der: [UInt8], now: Date = Date(), skew: TimeInterval = 300) throws -> Answer {
        func reject(_ why: String) -> CLIError { CLIError(.verificationFailed, "ocsp_response_invalid", why) }
        let response: OCSPResponse
        do { response = try OCSPResponse(derEncoded: der) } catch { throw reject("not a DER OCSPResponse: \(error)") }
        guard response.status == .successful, let data = response.responseData else {
            throw CLIError(.failure, "ocsp_\(response.status.name)", "the responder answered \(response.status.name)")
        }
        let carried = try response.certificates.map { bytes in
            do { return try Certificate(derEncoded: bytes) } catch { throw reject("a certificate in the response does not parse") }
        }
        func keyHash(_ certificate: Certificate) -> [UInt8] {
            Array(Insecure.SHA1.hash(data: Array(certificate.publicKey.subjectPublicKeyInfoBytes)))
        }
        guard let signer = (carried + [issuer]).first(where: { keyHash($0) == data.responderKeyHash }) else {
            throw reject("the responder id names neither the issuer nor a certificate in the response")
        }
        if signer != issuer {
            guard issuer.publicKey.isValidSignature(signer.signature, for: signer) else {
                throw reject("the responder certificate \(signer.subject) is not signed by the issuer")
            }
            let usages = try? signer.extensions.extendedKeyUsage
            guard usages?.contains(.ocspSigning) == true else { throw reject("the responder certificate lacks extendedKeyUsage OCSPSigning") }
            guard signer.notValidBefore <= now.addingTimeInterval(skew), now <= signer.notValidAfter.addingTimeInterval(skew) else {
                throw reject("the responder certificate is not valid now (\(signer.notValidBefore) – \(signer.notValidAfter))")
            }
        }
        guard let algorithm = SignatureAlgorithmIdentifier.algorithm(fromDER: response.signatureAlgorithmDER),
              signer.publicKey.isValidSignature(response.signature, for: response.responseDataBytes, signatureAlgorithm: algorithm)
        else { throw reject("the response signature does not verify with \(signer.subject)") }
        guard let single = data.responses.first(where: { $0.certID == certID }) else {
            throw reject("the response does not answer for the certificate asked about")
        }
        if let echoed = data.nonce, echoed != nonce { throw reject("the response carries a different nonce") }
        guard single.thisUpdate <= now.addingTimeInterval(skew) else { throw reject("thisUpdate \(single.thisUpdate) is in the future") }
        if let next = single.nextUpdate, next < now.addingTimeInterval(-skew) { throw reject("the response expired at \(next)") }
        return Answer(single: single, producedAt: data.producedAt, responder: "\(signer.subject)", nonceEchoed: data.nonce != nil)
    }

    /// The OCSP URL of the certificate's Authority Information Access extension.
    static func responderURL(_ certificate: Certificate) -> String? {
        guard let access = try? certificate.extensions.authorityInformationAccess else { return nil }
        for description in access where description.method == .ocspServer {
            if case .uniformResourceIdentifier(let uri) = description.location { return uri }
        }
        return nil
    }
}
