import X509
import SwiftASN1

/// SCEP attribute OIDs (RFC 8894 §3.2.1, id-VeriSign 2.16.840.1.113733 . 1.9.x).
public enum SCEPOID {
    public static let messageType: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 2]
    public static let pkiStatus: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 3]
    public static let failInfo: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 4]
    public static let senderNonce: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 5]
    public static let recipientNonce: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 6]
    public static let transactionID: ASN1ObjectIdentifier = [2, 16, 840, 1, 113733, 1, 9, 7]
}

/// messageType values (PrintableString of a decimal number).
public enum SCEPMessageType: String, Sendable {
    case certRep = "3"
    case renewalReq = "17"
    case pkcsReq = "19"
    case certPoll = "20"
    case getCert = "21"
    case getCRL = "22"
}

public enum SCEPPKIStatus: String, Sendable {
    case success = "0"
    case failure = "2"
    case pending = "3"
}

public enum SCEPFailInfo: String, Sendable {
    case badAlg = "0"
    case badMessageCheck = "1"
    case badRequest = "2"
    case badTime = "3"
    case badCertID = "4"
}

/// A refused SCEP request: `code` is the audit/metrics code, `failInfo` what
/// the client gets in its CertRep FAILURE.
public struct SCEPError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var failInfo: SCEPFailInfo
    public var message: String

    public init(_ code: String, _ failInfo: SCEPFailInfo, _ message: String) {
        self.code = code
        self.failInfo = failInfo
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// How a CMS problem in a client's message is answered.
    public static func from(_ error: CMSError) -> SCEPError {
        switch error {
        case .malformed(let text): SCEPError("scep_malformed_message", .badRequest, text)
        case .wrongContentType(let expected, let got):
            SCEPError("scep_wrong_content_type", .badRequest, "content type \(got), expected \(expected)")
        case .unsupportedAlgorithm(let text): SCEPError("scep_unsupported_algorithm", .badAlg, text)
        case .signerCertificateMissing:
            SCEPError("scep_signer_certificate_missing", .badMessageCheck, "the SignedData carries no certificate matching its signer")
        case .messageDigestMismatch:
            SCEPError("scep_message_digest_mismatch", .badMessageCheck, "messageDigest does not match the content")
        case .badSignature: SCEPError("scep_bad_signature", .badMessageCheck, "the requester's signature does not verify")
        case .notForThisRecipient:
            SCEPError("scep_envelope_not_for_this_ra", .badMessageCheck, "the envelope is not addressed to this profile's RA certificate")
        case .decryptionFailed(let text): SCEPError("scep_decryption_failed", .badMessageCheck, text)
        }
    }
}

extension CertificateSigningRequest {
    /// The PKCS#9 challengePassword attribute (DirectoryString), if present.
    public var challengePassword: String? {
        get throws {
            guard let attribute = attributes.first(where: { $0.oid == CMSOID.challengePassword }) else { return nil }
            guard attribute.values.count == 1 else {
                throw SCEPError("scep_malformed_csr", .badRequest, "challengePassword must have one value")
            }
            let value = attribute.values[0]
            if let printable = try? ASN1PrintableString(asn1Any: value) { return String(printable) }
            if let utf8 = try? ASN1UTF8String(asn1Any: value) { return String(utf8) }
            if let ia5 = try? ASN1IA5String(asn1Any: value) { return String(ia5) }
            throw SCEPError("scep_malformed_csr", .badRequest, "challengePassword is not a PrintableString, UTF8String or IA5String")
        }
    }
}
