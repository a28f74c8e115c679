import Foundation

/// A SCEP endpoint's configuration (table scep_profiles; the API and docs call it a SCEP profile):
/// `/scep/{name}`, its RA files, issuer, certificate profile and challenge policy.
public struct SCEPEndpointRecord: Sendable, Equatable {
    public var name: String
    public var issuerID: String
    public var profileID: String
    public var raCertPath: String
    public var raKeyPath: String
    /// SHA-256 of the static challenge; nil = no static challenge.
    public var staticChallengeSHA256: [UInt8]?
    public var allowOneTimeChallenges: Bool
    public var validityDays: Int?
    /// Trust bundle (purpose scep-signed-challenge) of connector certificates; nil = signed challenges off.
    public var signedChallengeTrustAnchor: String?
    /// Valid requests wait as PENDING for an operator's decision (admin API) instead of being issued.
    public var requireApproval: Bool
    /// Endpoints and labels (`EnrollmentEndpoint` form) whose certificates RenewalReq here also renews.
    public var acceptRenewalsFrom: [String]
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, issuerID: String, profileID: String, raCertPath: String, raKeyPath: String,
                staticChallengeSHA256: [UInt8]?, allowOneTimeChallenges: Bool, validityDays: Int?,
                signedChallengeTrustAnchor: String? = nil, requireApproval: Bool = false, acceptRenewalsFrom: [String] = [],
                createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.name = name
        self.issuerID = issuerID
        self.profileID = profileID
        self.raCertPath = raCertPath
        self.raKeyPath = raKeyPath
        self.staticChallengeSHA256 = staticChallengeSHA256
        self.allowOneTimeChallenges = allowOneTimeChallenges
        self.validityDays = validityDays
        self.signedChallengeTrustAnchor = signedChallengeTrustAnchor
        self.requireApproval = requireApproval
        self.acceptRenewalsFrom = acceptRenewalsFrom
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
