import Foundation
import SwiftASN1
import X509

/// ```
/// ResponseData ::= SEQUENCE {
///     version              [0] EXPLICIT Version DEFAULT v1,
///     responderID              ResponderID,
///     producedAt               GeneralizedTime,
///     responses                SEQUENCE OF SingleResponse,
///     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ResponderID ::= CHOICE {
///     byName   [1] Name,
///     byKey    [2] KeyHash }
/// KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key
/// ```
/// certctl always identifies its delegated responder byKey.
public struct OCSPResponseData: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    static let byKey = ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)

    public var responderKeyHash: [UInt8]
    public var producedAt: Date
    public var responses: [OCSPSingleResponse]
    /// Echoed nonce octets (RFC 8954), if the request carried one.
    public var nonce: [UInt8]?

    public init(responderKeyHash: [UInt8], producedAt: Date, responses: [OCSPSingleResponse], nonce: [UInt8]? = nil) {
        self.responderKeyHash = responderKeyHash
        self.producedAt = producedAt
        self.responses = responses
        self.nonce = nonce
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0)
            guard version == 0 else { throw ASN1Error.invalidASN1Object(reason: "ResponseData version \(version)") }
            guard let responder = nodes.next(), responder.identifier == Self.byKey else {
                throw ASN1Error.invalidASN1Object(reason: "responderID is not byKey")
            }
            let keyHash = try DER.explicitlyTagged(responder, tagNumber: 2, tagClass: .contextSpecific) {
                try ASN1OctetString(derEncoded: $0)
            }
            let producedAt = try GeneralizedTime(derEncoded: &nodes)
            let responses = try DER.sequence(of: OCSPSingleResponse.self, identifier: .sequence, nodes: &nodes)
            let extensions = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try Certificate.Extensions(try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: $0))
            }
            return OCSPResponseData(responderKeyHash: Array(keyHash.bytes), producedAt: Date(producedAt),
                                    responses: responses, nonce: try OCSPRequest.nonce(in: extensions))
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.appendConstructedNode(identifier: Self.byKey) { key in
                try key.serialize(ASN1OctetString(contentBytes: responderKeyHash[...]))
            }
            try coder.serialize(GeneralizedTime(producedAt))
            try coder.serializeSequenceOf(responses)
            if let nonce {
                try coder.serialize(explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific) { wrapper in
                    try wrapper.appendConstructedNode(identifier: .sequence) { extensions in
                        try extensions.serialize(try OCSPRequest.nonceExtension(nonce))
                    }
                }
            }
        }
    }
}
