import Crypto
import Foundation
import SwiftASN1
import X509

/// `OCSPResponseStatus ::= ENUMERATED` (RFC 6960 §4.2.1).
public enum OCSPResponseStatus: Int, Sendable, CaseIterable {
    case successful = 0
    case malformedRequest = 1
    case internalError = 2
    case tryLater = 3
    case sigRequired = 5
    case unauthorized = 6

    public var name: String {
        switch self {
        case .successful: return "successful"
        case .malformedRequest: return "malformedRequest"
        case .internalError: return "internalError"
        case .tryLater: return "tryLater"
        case .sigRequired: return "sigRequired"
        case .unauthorized: return "unauthorized"
        }
    }
}

/// ```
/// OCSPResponse ::= SEQUENCE {
///     responseStatus         OCSPResponseStatus,
///     responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
/// ResponseBytes ::= SEQUENCE {
///     responseType           OBJECT IDENTIFIER,   -- id-pkix-ocsp-basic
///     response               OCTET STRING }       -- DER BasicOCSPResponse
/// BasicOCSPResponse ::= SEQUENCE {
///     tbsResponseData        ResponseData,
///     signatureAlgorithm     AlgorithmIdentifier,
///     signature              BIT STRING,
///     certs              [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
/// The signed ResponseData bytes are kept verbatim (never re-encoded), so a
/// parsed response serializes back to the same bytes.
public struct OCSPResponse: DERImplicitlyTaggable, Sendable, Equatable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public static let basicOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1]
    /// ecdsa-with-SHA256, no parameters (RFC 5758).
    public static let ecdsaWithSHA256DER: [UInt8] = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]

    public var status: OCSPResponseStatus
    /// Parsed `responseDataBytes`, when `status` is successful.
    public var responseData: OCSPResponseData?
    public var responseDataBytes: [UInt8] = []
    public var signatureAlgorithmDER: [UInt8] = []
    public var signature: [UInt8] = []
    public var certificates: [[UInt8]] = []

    /// An unsuccessful response: just the status (no responseBytes, no signature).
    public init(status: OCSPResponseStatus) {
        self.status = status
    }

    /// A successful response around an already signed ResponseData.
    public init(responseDataBytes: [UInt8], signatureAlgorithmDER: [UInt8], signature: [UInt8], certificates: [[UInt8]]) {
        status = .successful
        self.responseDataBytes = responseDataBytes
        self.signatureAlgorithmDER = signatureAlgorithmDER
        self.signature = signature
        self.certificates = certificates
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let statusNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no responseStatus") }
            let raw = try Int(derEncoded: statusNode, withIdentifier: .enumerated)
            guard let status = OCSPResponseStatus(rawValue: raw) else {
                throw ASN1Error.invalidASN1Object(reason: "unknown responseStatus \(raw)")
            }
            var response = OCSPResponse(status: status)
            let body = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { fields in
                    let type = try ASN1ObjectIdentifier(derEncoded: &fields)
                    guard type == OCSPResponse.basicOID else { throw ASN1Error.invalidASN1Object(reason: "responseType \(type)") }
                    return try ASN1OctetString(derEncoded: &fields)
                }
            }
            guard (status == .successful) == (body != nil) else {
                throw ASN1Error.invalidASN1Object(reason: "responseBytes present iff successful")
            }
            guard let body else { return response }
            let basic = try DER.parse(body.bytes)
            try DER.sequence(basic, identifier: .sequence) { fields in
                guard let data = fields.next(), let algorithm = fields.next() else {
                    throw ASN1Error.invalidASN1Object(reason: "short BasicOCSPResponse")
                }
                response.responseData = try OCSPResponseData(derEncoded: data)
                response.responseDataBytes = Array(data.encodedBytes)
                response.signatureAlgorithmDER = Array(algorithm.encodedBytes)
                response.signature = Array(try ASN1BitString(derEncoded: &fields).bytes)
                response.certificates = try DER.optionalExplicitlyTagged(&fields, tagNumber: 0, tagClass: .contextSpecific) { node in
                    guard case .constructed(let certs) = node.content else { return [] }
                    return certs.map { Array($0.encodedBytes) }
                } ?? []
            }
            return response
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { outer in
            try status.rawValue.serialize(into: &outer, withIdentifier: .enumerated)
            guard status == .successful else { return }
            var basic = DER.Serializer()
            try basic.appendConstructedNode(identifier: .sequence) { body in
                body.serializeRawBytes(responseDataBytes[...])
                body.serializeRawBytes(signatureAlgorithmDER[...])
                try body.serialize(ASN1BitString(bytes: signature[...]))
                if !certificates.isEmpty {
                    try body.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { wrapper in
                        try wrapper.appendConstructedNode(identifier: .sequence) { certs in
                            for certificate in certificates { certs.serializeRawBytes(certificate[...]) }
                        }
                    }
                }
            }
            try outer.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { wrapper in
                try wrapper.appendConstructedNode(identifier: .sequence) { bytes in
                    try bytes.serialize(Self.basicOID)
                    try bytes.serialize(ASN1OctetString(contentBytes: basic.serializedBytes[...]))
                }
            }
        }
    }

    public static func == (lhs: OCSPResponse, rhs: OCSPResponse) -> Bool {
        lhs.status == rhs.status && lhs.responseDataBytes == rhs.responseDataBytes
            && lhs.signatureAlgorithmDER == rhs.signatureAlgorithmDER && lhs.signature == rhs.signature
            && lhs.certificates == rhs.certificates
    }

    /// Parses DER bytes (tests, caches and tools read back what was signed).
    public init(derEncoded bytes: [UInt8]) throws {
        try self.init(derEncoded: try DER.parse(bytes))
    }

    /// The DER encoding.
    public func serialized() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// An unsuccessful response's DER: just the status.
    public static func error(_ status: OCSPResponseStatus) -> [UInt8] {
        precondition(status != .successful)
        // The serializer cannot fail on an ENUMERATED alone.
        return try! OCSPResponse(status: status).serialized()
    }
}

/// A delegated responder's signing identity: its P-256 key and the
/// certificate the CA issued for it (sent in `certs` so relying parties can
/// verify the delegation).
public struct OCSPResponderIdentity: Sendable {
    public let key: P256.Signing.PrivateKey
    public let certificateDER: [UInt8]
    /// SHA-1 of the responder's public key bits: ResponderID byKey.
    public let keyHash: [UInt8]
    public let notAfter: Date

    public init(key: P256.Signing.PrivateKey, certificateDER: [UInt8], notAfter: Date) {
        self.key = key
        self.certificateDER = certificateDER
        self.keyHash = Array(Insecure.SHA1.hash(data: key.publicKey.x963Representation))
        self.notAfter = notAfter
    }

    /// Signs these single responses (with the nonce echoed) into a complete OCSPResponse.
    public func sign(_ responses: [OCSPSingleResponse], producedAt: Date, nonce: [UInt8]? = nil) throws -> [UInt8] {
        let data = OCSPResponseData(responderKeyHash: keyHash, producedAt: producedAt.wholeSeconds,
                                    responses: responses, nonce: nonce)
        var serializer = DER.Serializer()
        try serializer.serialize(data)
        let bytes = serializer.serializedBytes
        let signature = try key.signature(for: bytes).derRepresentation
        return try OCSPResponse(
            responseDataBytes: bytes, signatureAlgorithmDER: OCSPResponse.ecdsaWithSHA256DER,
            signature: Array(signature), certificates: [certificateDER]).serialized()
    }
}
