import SwiftASN1
import X509

/// The messageData of a CertPoll (GetCertInitial) message, RFC 8894 §3.3.3:
///
///     IssuerAndSubject ::= SEQUENCE {
///         issuer     Name,
///         subject    Name
///     }
///
/// `issuer` names the CA the request was sent to and `subject` the subject of
/// the pending request; the request itself is found by its transactionID.
public struct SCEPIssuerAndSubject: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var issuer: DistinguishedName
    public var subject: DistinguishedName

    public init(issuer: DistinguishedName, subject: DistinguishedName) {
        self.issuer = issuer
        self.subject = subject
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let issuer = try DistinguishedName(derEncoded: &nodes)
            let subject = try DistinguishedName(derEncoded: &nodes)
            return Self(issuer: issuer, subject: subject)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(issuer)
            try coder.serialize(subject)
        }
    }

    /// Parses the decrypted messageData of a CertPoll.
    public static func parse(_ bytes: [UInt8]) throws(SCEPError) -> SCEPIssuerAndSubject {
        do {
            return try SCEPIssuerAndSubject(derEncoded: bytes)
        } catch {
            throw SCEPError("scep_malformed_poll", .badRequest, "CertPoll messageData is not an IssuerAndSubject: \(error)")
        }
    }
}
