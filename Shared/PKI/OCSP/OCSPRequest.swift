import SwiftASN1
import X509

/// Why an OCSP request is refused with `malformedRequest` (RFC 6960 §2.3).
public enum OCSPRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case notDER(String)
    case unsupportedVersion(Int)
    case emptyRequestList
    case tooManyCertIDs(Int)
    case unsupportedHashAlgorithm(String)
    case hashLength(String)
    case nonceLength(Int)
    case nonceNotOctetString
    case unknownCriticalExtension(String)

    public var description: String {
        switch self {
        case .notDER(let reason): return "not a DER OCSPRequest: \(reason)"
        case .unsupportedVersion(let version): return "unsupported request version \(version)"
        case .emptyRequestList: return "the requestList is empty"
        case .tooManyCertIDs(let count): return "\(count) CertIDs in one request (at most \(OCSPRequest.maximumCertIDs))"
        case .unsupportedHashAlgorithm(let oid): return "CertID hash algorithm \(oid) is not SHA-1 or SHA-256"
        case .hashLength(let algorithm): return "issuerNameHash/issuerKeyHash length does not match \(algorithm)"
        case .nonceLength(let length): return "nonce of \(length) octets (RFC 8954 allows 1 to 32)"
        case .nonceNotOctetString: return "the nonce extension value is not an OCTET STRING"
        case .unknownCriticalExtension(let oid): return "unknown critical request extension \(oid)"
        }
    }
}

/// ```
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// TBSRequest ::= SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
/// What a responder needs from it: the CertIDs and the nonce (RFC 8954).
/// requestorName, single-request extensions and a request signature are read
/// and ignored (certctl does not require signed requests).
public struct OCSPRequest: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    /// More CertIDs than this in one request are refused (bounds the work one request can cause).
    public static let maximumCertIDs = 20
    public static let nonceOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 2]

    public var certIDs: [OCSPCertID]
    /// The nonce octets (inside the extension's OCTET STRING), 1–32 long.
    public var nonce: [UInt8]?

    public init(certIDs: [OCSPCertID], nonce: [UInt8]? = nil) {
        self.certIDs = certIDs
        self.nonce = nonce
    }

    /// Pure parser from request bytes; every failure is a typed error.
    public static func parse(_ bytes: [UInt8]) throws(OCSPRequestError) -> OCSPRequest {
        let root: ASN1Node
        // DER.parse also refuses bytes after the outer SEQUENCE.
        do { root = try DER.parse(bytes) } catch { throw .notDER("\(error)") }
        do {
            return try OCSPRequest(derEncoded: root)
        } catch let error as OCSPRequestError {
            throw error
        } catch {
            throw .notDER("\(error)")
        }
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let tbsNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no tbsRequest") }
            let request = try DER.sequence(tbsNode, identifier: .sequence) { tbs in
                let version = try DER.decodeDefaultExplicitlyTagged(&tbs, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0)
                guard version == 0 else { throw OCSPRequestError.unsupportedVersion(version) }
                _ = try DER.optionalExplicitlyTagged(&tbs, tagNumber: 1, tagClass: .contextSpecific) { try GeneralName(derEncoded: $0) }
                let certIDs = try DER.sequence(of: SingleRequest.self, identifier: .sequence, nodes: &tbs).map(\.certID)
                guard !certIDs.isEmpty else { throw OCSPRequestError.emptyRequestList }
                guard certIDs.count <= Self.maximumCertIDs else { throw OCSPRequestError.tooManyCertIDs(certIDs.count) }
                let extensions = try DER.optionalExplicitlyTagged(&tbs, tagNumber: 2, tagClass: .contextSpecific) {
                    try Certificate.Extensions(try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: $0))
                }
                return OCSPRequest(certIDs: certIDs, nonce: try Self.nonce(in: extensions))
            }
            // optionalSignature [0]: accepted, not verified
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { $0 }
            return request
        }
    }

    static func nonce(in extensions: Certificate.Extensions?) throws -> [UInt8]? {
        guard let extensions else { return nil }
        var nonce: [UInt8]?
        for ext in extensions {
            if ext.oid == nonceOID {
                let octets: ASN1OctetString
                do { octets = try ASN1OctetString(derEncoded: ext.value) } catch { throw OCSPRequestError.nonceNotOctetString }
                guard (1...32).contains(octets.bytes.count) else { throw OCSPRequestError.nonceLength(octets.bytes.count) }
                nonce = Array(octets.bytes)
            } else if ext.critical {
                throw OCSPRequestError.unknownCriticalExtension("\(ext.oid)")
            }
        }
        return nonce
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { tbs in
                try tbs.serializeSequenceOf(certIDs.map(SingleRequest.init(certID:)))
                if let nonce {
                    try tbs.serialize(explicitlyTaggedWithTagNumber: 2, tagClass: .contextSpecific) { wrapper in
                        try wrapper.appendConstructedNode(identifier: .sequence) { extensions in
                            try extensions.serialize(try Self.nonceExtension(nonce))
                        }
                    }
                }
            }
        }
    }

    /// The id-pkix-ocsp-nonce extension carrying `nonce` (requests and responses).
    public static func nonceExtension(_ nonce: [UInt8]) throws -> Certificate.Extension {
        var value = DER.Serializer()
        try value.serialize(ASN1OctetString(contentBytes: nonce[...]))
        return Certificate.Extension(oid: nonceOID, critical: false, value: value.serializedBytes[...])
    }

    public var serializedBytes: [UInt8] {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self)
            return serializer.serializedBytes
        }
    }
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }`
struct SingleRequest: DERImplicitlyTaggable {
    static var defaultIdentifier: ASN1Identifier { .sequence }
    var certID: OCSPCertID

    init(certID: OCSPCertID) { self.certID = certID }

    init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { $0 }
            return SingleRequest(certID: certID)
        }
    }

    func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in try coder.serialize(certID) }
    }
}
