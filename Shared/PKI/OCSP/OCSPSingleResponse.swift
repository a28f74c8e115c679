import Foundation
import SwiftASN1

/// ```
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// UnknownInfo ::= NULL
/// ```
public enum OCSPCertStatus: Hashable, Sendable {
    case good
    /// `reason` is the CRLReason code; nil (unspecified) leaves it out.
    case revoked(time: Date, reason: Int?)
    case unknown

    public var name: String {
        switch self {
        case .good: return "good"
        case .revoked: return "revoked"
        case .unknown: return "unknown"
        }
    }
}

/// ```
/// SingleResponse ::= SEQUENCE {
///     certID                       CertID,
///     certStatus                   CertStatus,
///     thisUpdate                   GeneralizedTime,
///     nextUpdate           [0]     EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions     [1]     EXPLICIT Extensions OPTIONAL }
/// ```
public struct OCSPSingleResponse: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    static let good = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
    static let revoked = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)
    static let unknown = ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)

    public var certID: OCSPCertID
    public var certStatus: OCSPCertStatus
    public var thisUpdate: Date
    public var nextUpdate: Date?

    public init(certID: OCSPCertID, certStatus: OCSPCertStatus, thisUpdate: Date, nextUpdate: Date?) {
        self.certID = certID
        self.certStatus = certStatus
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            guard let statusNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no certStatus") }
            let status: OCSPCertStatus
            switch statusNode.identifier {
            case Self.good:
                _ = try ASN1Null(derEncoded: statusNode, withIdentifier: Self.good)
                status = .good
            case Self.unknown:
                _ = try ASN1Null(derEncoded: statusNode, withIdentifier: Self.unknown)
                status = .unknown
            case Self.revoked:
                status = try DER.sequence(statusNode, identifier: Self.revoked) { info in
                    let time = try GeneralizedTime(derEncoded: &info)
                    let reason = try DER.optionalExplicitlyTagged(&info, tagNumber: 0, tagClass: .contextSpecific) {
                        try Int(derEncoded: $0, withIdentifier: .enumerated)
                    }
                    return .revoked(time: Date(time), reason: reason)
                }
            default:
                throw ASN1Error.unexpectedFieldType(statusNode.identifier)
            }
            let thisUpdate = try GeneralizedTime(derEncoded: &nodes)
            let nextUpdate = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try GeneralizedTime(derEncoded: $0)
            }
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { $0 }
            return OCSPSingleResponse(certID: certID, certStatus: status, thisUpdate: Date(thisUpdate),
                                      nextUpdate: nextUpdate.map { Date($0) })
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(certID)
            switch certStatus {
            case .good: try ASN1Null().serialize(into: &coder, withIdentifier: Self.good)
            case .unknown: try ASN1Null().serialize(into: &coder, withIdentifier: Self.unknown)
            case .revoked(let time, let reason):
                try coder.appendConstructedNode(identifier: Self.revoked) { info in
                    try info.serialize(GeneralizedTime(time))
                    if let reason {
                        try info.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { tagged in
                            try reason.serialize(into: &tagged, withIdentifier: .enumerated)
                        }
                    }
                }
            }
            try coder.serialize(GeneralizedTime(thisUpdate))
            if let nextUpdate {
                try coder.serialize(GeneralizedTime(nextUpdate), explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
        }
    }
}

extension GeneralizedTime {
    /// Whole seconds, UTC, no fraction (RFC 5280 §4.1.2.5.2 DER form).
    public init(_ date: Date) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        try self.init(year: c.year!, month: c.month!, day: c.day!, hours: c.hour!, minutes: c.minute!,
                      seconds: c.second!, fractionalSeconds: 0)
    }
}

extension Date {
    public init(_ time: GeneralizedTime) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: time.year, month: time.month, day: time.day,
                                        hour: time.hours, minute: time.minutes, second: time.seconds)
        self = calendar.date(from: components) ?? Date(timeIntervalSince1970: 0)
    }

    /// This date without its fraction of a second (what DER times can carry).
    public var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
