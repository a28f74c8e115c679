import Crypto
import Foundation
import X509

/// A signed SCEP challenge (the Intune-style model): a connector that decides
/// which devices may enroll signs a short token with its own key, and the
/// device puts the token in its CSR's challengePassword. certctl checks the
/// signature against a trust bundle of connector certificates, the audience
/// (the SCEP profile), the validity window, an optional common-name binding,
/// and (in Postgres) that the token id is used once.
///
/// ```
/// v1:aud=<profile>:nbf=<unix s>:exp=<unix s>:id=<8-64 of [A-Za-z0-9-]>[:cn=<base64 CN>]:sig=<base64 DER ECDSA>
/// ```
/// The signature covers the UTF-8 bytes before ":sig=", ECDSA P-256 with
/// SHA-256 or P-384 with SHA-384 (what `openssl dgst -sha256 -sign` writes).
/// Every character is PrintableString-safe, and a P-256 token is about 170
/// characters, inside PKCS#9's 255 limit for challengePassword.
public struct SCEPSignedChallenge: Sendable, Equatable {
    public static let versionPrefix = "v1:"

    public var audience: String
    public var notBefore: Date
    public var notAfter: Date
    public var id: String
    /// The CSR's subject commonName must equal this, when present.
    public var commonName: String?
    /// The bytes the signature covers.
    public var signedText: String
    public var signature: [UInt8]

    /// True when a challengePassword is meant as a signed token (and must then verify as one).
    public static func isSignedToken(_ password: String) -> Bool { password.hasPrefix(versionPrefix) }

    /// Parses a token; a pure function of the text.
    public static func parse(_ text: String) throws(SCEPError) -> SCEPSignedChallenge {
        func malformed(_ why: String) -> SCEPError { SCEPError("scep_signed_challenge_malformed", .badRequest, why) }
        guard text.utf8.count <= 1024 else { throw malformed("the token is longer than 1024 characters") }
        guard isSignedToken(text), let sigRange = text.range(of: ":sig=") else {
            throw malformed("a signed challenge is v1:aud=…:nbf=…:exp=…:id=…[:cn=…]:sig=…")
        }
        let signedText = String(text[..<sigRange.lowerBound])
        guard let signature = Data(base64Encoded: String(text[sigRange.upperBound...])), !signature.isEmpty else {
            throw malformed("sig is not base64")
        }
        var fields: [String: String] = [:]
        for field in signedText.dropFirst(versionPrefix.count).split(separator: ":", omittingEmptySubsequences: false) {
            guard let equals = field.firstIndex(of: "=") else { throw malformed("field \(field) has no '='") }
            let key = String(field[..<equals]), value = String(field[field.index(after: equals)...])
            guard ["aud", "nbf", "exp", "id", "cn"].contains(key) else { throw malformed("unknown field \(key)") }
            guard fields.updateValue(value, forKey: key) == nil else { throw malformed("field \(key) appears twice") }
        }
        guard let audience = fields["aud"], !audience.isEmpty else { throw malformed("aud is missing") }
        guard let nbf = fields["nbf"].flatMap(Int64.init), let exp = fields["exp"].flatMap(Int64.init), nbf >= 0, exp > nbf else {
            throw malformed("nbf and exp must be Unix seconds with nbf < exp")
        }
        guard let id = fields["id"], (8...64).contains(id.count),
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw malformed("id must be 8 to 64 characters of A-Z, a-z, 0-9 and '-'")
        }
        var commonName: String?
        if let cn = fields["cn"] {
            guard let data = Data(base64Encoded: cn), let name = String(data: data, encoding: .utf8), !name.isEmpty else {
                throw malformed("cn must be the base64 of a UTF-8 common name")
            }
            commonName = name
        }
        return SCEPSignedChallenge(audience: audience, notBefore: Date(timeIntervalSince1970: Double(nbf)),
                                   notAfter: Date(timeIntervalSince1970: Double(exp)), id: id, commonName: commonName,
                                   signedText: signedText, signature: Array(signature))
    }

    /// The certificate among `connectors` whose key made the signature and which is valid at `now`.
    /// Clock skew allowed between connectors and certctl.
    public static let skew: TimeInterval = 300

    public func signer(among connectors: [Certificate], now: Date) -> Certificate? {
        let message = Data(signedText.utf8)
        return connectors.first { certificate in
            // the same 5 minutes of clock skew as the token's own window: a connector
            // certificate made seconds ago on a host whose clock runs ahead still verifies
            guard certificate.notValidBefore <= now.addingTimeInterval(Self.skew), now <= certificate.notValidAfter else {
                return false
            }
            if let usage = try? certificate.extensions.keyUsage, !usage.digitalSignature { return false }
            if let key = P256.Signing.PublicKey(certificate.publicKey),
               let signature = try? P256.Signing.ECDSASignature(derRepresentation: self.signature) {
                return key.isValidSignature(signature, for: SHA256.hash(data: message))
            }
            if let key = P384.Signing.PublicKey(certificate.publicKey),
               let signature = try? P384.Signing.ECDSASignature(derRepresentation: self.signature) {
                return key.isValidSignature(signature, for: SHA384.hash(data: message))
            }
            return false
        }
    }

    /// Audience, window (with `skew` for clocks) and lifetime checks, after the signature.
    public func check(audience expected: String, now: Date, skew: TimeInterval = Self.skew,
                      maxLifetime: TimeInterval = 7 * 86_400) throws(SCEPError) {
        guard audience == expected else {
            throw SCEPError("scep_signed_challenge_wrong_audience", .badRequest,
                            "the challenge is for SCEP profile \(audience), not \(expected)")
        }
        guard notAfter.timeIntervalSince(notBefore) <= maxLifetime else {
            throw SCEPError("scep_signed_challenge_lifetime_too_long", .badRequest,
                            "a signed challenge may be valid for at most \(Int(maxLifetime)) seconds")
        }
        guard now.addingTimeInterval(skew) >= notBefore else {
            throw SCEPError("scep_signed_challenge_not_yet_valid", .badTime, "the challenge is valid from \(notBefore)")
        }
        guard now < notAfter else {
            throw SCEPError("scep_signed_challenge_expired", .badTime, "the challenge expired at \(notAfter)")
        }
    }

    /// Builds a token (the connector side: `certctl-admin sign-scep-challenge` and tests).
    /// `keyPEM` is a P-256 or P-384 private key.
    public static func sign(keyPEM: String, audience: String, notBefore: Date, notAfter: Date, id: String,
                            commonName: String? = nil) throws(SCEPError) -> String {
        var text = versionPrefix + "aud=\(audience):nbf=\(Int64(notBefore.timeIntervalSince1970)):exp=\(Int64(notAfter.timeIntervalSince1970)):id=\(id)"
        if let commonName { text += ":cn=" + Data(commonName.utf8).base64EncodedString() }
        let signature: Data
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM),
           let value = try? key.signature(for: SHA256.hash(data: Data(text.utf8))) {
            signature = value.derRepresentation
        } else if let key = try? P384.Signing.PrivateKey(pemRepresentation: keyPEM),
                  let value = try? key.signature(for: SHA384.hash(data: Data(text.utf8))) {
            signature = value.derRepresentation
        } else {
            throw SCEPError("scep_signed_challenge_key_unsupported", .badRequest, "a connector key is a P-256 or P-384 private key in PEM")
        }
        return text + ":sig=" + signature.base64EncodedString()
    }
}
