import CertctlPKI
import Foundation
import Testing
import X509

/// Signed SCEP challenges: tokens made by `openssl dgst -sign` (what a
/// connector script does) and by SCEPSignedChallenge.sign, checked against
/// connector certificates made by openssl.
@Suite("SCEP signed challenges")
struct SCEPSignedChallengeTests {
    let fixture: OpenSSLFixture
    let now = Date()

    init() throws { fixture = try OpenSSLFixture() }

    /// A connector key `name`.key and self-signed certificate `name`.crt.
    func connector(_ name: String, key: [String] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                   days: String = "2", extra: [String] = []) throws -> (cert: Certificate, keyPEM: String) {
        let made = try fixture.openssl(["req", "-x509"] + key + ["-nodes", "-keyout", "\(name).key", "-out", "\(name).crt",
                                                                  "-subj", "/CN=\(name)", "-days", days] + extra)
        #expect(made.status == 0, "\(made.error)")
        return (try Certificate(pemEncoded: String(contentsOfFile: fixture.path("\(name).crt"), encoding: .utf8)),
                try String(contentsOfFile: fixture.path("\(name).key"), encoding: .utf8))
    }

    func token(_ key: String, aud: String = "devices", nbf: Date? = nil, exp: Date? = nil, id: String = "abcdef0123456789",
               cn: String? = nil) throws -> String {
        try SCEPSignedChallenge.sign(keyPEM: key, audience: aud, notBefore: nbf ?? now.addingTimeInterval(-10),
                                     notAfter: exp ?? now.addingTimeInterval(3600), id: id, commonName: cn)
    }

    func refusal(_ body: () throws -> Void) -> String? {
        do { try body() } catch let error as SCEPError { return error.code } catch { return "\(error)" }
        return nil
    }

    @Test("a token signed with openssl dgst verifies against the connector certificate; a changed byte does not")
    func opensslToken() throws {
        let c = try connector("conn")
        let text = "v1:aud=devices:nbf=\(Int(now.timeIntervalSince1970) - 5):exp=\(Int(now.timeIntervalSince1970) + 600):id=device-42-abcdef"
        let signed = try fixture.openssl(["dgst", "-sha256", "-sign", "conn.key"], stdin: Array(text.utf8))
        #expect(signed.status == 0, "\(signed.error)")
        let token = text + ":sig=" + Data(signed.output).base64EncodedString()
        let parsed = try SCEPSignedChallenge.parse(token)
        #expect(parsed.audience == "devices" && parsed.id == "device-42-abcdef" && parsed.commonName == nil)
        #expect(parsed.signer(among: [c.cert], now: now) == c.cert)
        try parsed.check(audience: "devices", now: now)
        #expect(token.utf8.count < 255)
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || " '()+,-./:=?".contains($0) }, "PrintableString-safe")
        let tampered = try SCEPSignedChallenge.parse(token.replacingOccurrences(of: "id=device-42", with: "id=device-43"))
        #expect(tampered.signer(among: [c.cert], now: now) == nil)
    }

    @Test("P-384 connectors; the right connector is found among several; a foreign, expired or RSA certificate does not verify")
    func connectors() throws {
        let p256 = try connector("a"), p384 = try connector("b", key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"])
        let rsa = try connector("r", key: ["-newkey", "rsa:2048"])
        let parsed384 = try SCEPSignedChallenge.parse(try token(p384.keyPEM))
        #expect(parsed384.signer(among: [rsa.cert, p256.cert, p384.cert], now: now) == p384.cert)
        #expect(parsed384.signer(among: [p256.cert], now: now) == nil)
        let parsed256 = try SCEPSignedChallenge.parse(try token(p256.keyPEM))
        #expect(parsed256.signer(among: [p256.cert], now: now.addingTimeInterval(3 * 86_400)) == nil, "connector certificate expired")
        #expect(throws: SCEPError("scep_signed_challenge_key_unsupported", .badRequest, "a connector key is a P-256 or P-384 private key in PEM")) {
            try SCEPSignedChallenge.sign(keyPEM: rsa.keyPEM, audience: "x", notBefore: now, notAfter: now + 1, id: "abcdefgh")
        }
        let noSigning = try connector("ku", extra: ["-addext", "keyUsage=critical,keyAgreement"])
        #expect(try SCEPSignedChallenge.parse(try token(noSigning.keyPEM)).signer(among: [noSigning.cert], now: now) == nil,
                "a certificate without digitalSignature is not a connector")
    }

    @Test("audience, validity window, lifetime and the commonName binding")
    func checks() throws {
        let c = try connector("w")
        #expect(refusal { try SCEPSignedChallenge.parse(try token(c.keyPEM, aud: "other")).check(audience: "devices", now: now) }
                == "scep_signed_challenge_wrong_audience")
        #expect(refusal { try SCEPSignedChallenge.parse(try token(c.keyPEM, nbf: now - 7200, exp: now - 1)).check(audience: "devices", now: now) }
                == "scep_signed_challenge_expired")
        #expect(refusal { try SCEPSignedChallenge.parse(try token(c.keyPEM, nbf: now + 900, exp: now + 1800)).check(audience: "devices", now: now) }
                == "scep_signed_challenge_not_yet_valid")
        #expect(refusal { try SCEPSignedChallenge.parse(try token(c.keyPEM, nbf: now + 120, exp: now + 1800)).check(audience: "devices", now: now) }
                == nil, "five minutes of clock skew are allowed")
        #expect(refusal { try SCEPSignedChallenge.parse(try token(c.keyPEM, nbf: now, exp: now + 8 * 86_400)).check(audience: "devices", now: now) }
                == "scep_signed_challenge_lifetime_too_long")
        let bound = try SCEPSignedChallenge.parse(try token(c.keyPEM, cn: "Gerät 7: Ost"))
        #expect(bound.commonName == "Gerät 7: Ost")
        #expect(bound.signer(among: [c.cert], now: now) == c.cert)
    }

    @Test("malformed tokens are refused with scep_signed_challenge_malformed")
    func malformed() throws {
        let c = try connector("m")
        let good = try token(c.keyPEM)
        let sig = String(good[good.range(of: ":sig=")!.lowerBound...])
        for bad in [
            "v1:aud=devices:nbf=1:exp=2:id=abcdefgh",                       // no signature
            "v2:aud=devices:nbf=1:exp=2:id=abcdefgh" + sig,                  // unknown version
            "v1:nbf=1:exp=2:id=abcdefgh" + sig,                              // no audience
            "v1:aud=devices:nbf=5:exp=2:id=abcdefgh" + sig,                  // exp before nbf
            "v1:aud=devices:nbf=x:exp=2:id=abcdefgh" + sig,                  // not a number
            "v1:aud=devices:nbf=1:exp=2:id=short" + sig,                     // id too short
            "v1:aud=devices:nbf=1:exp=2:id=abc_defgh" + sig,                 // id character
            "v1:aud=devices:aud=x:nbf=1:exp=2:id=abcdefgh" + sig,            // duplicate field
            "v1:aud=devices:nbf=1:exp=2:id=abcdefgh:dev=1" + sig,            // unknown field
            "v1:aud=devices:nbf=1:exp=2:id=abcdefgh:cn=***" + sig,           // cn not base64
            "v1:aud=devices:nbf=1:exp=2:id=abcdefgh:sig=***",                // sig not base64
            "v1:aud=devices:nbf=1:exp=2:id=abcdefgh" + sig + String(repeating: "A", count: 1024),
        ] {
            #expect(refusal { _ = try SCEPSignedChallenge.parse(bad) } == "scep_signed_challenge_malformed", "\(bad.prefix(60))")
        }
        #expect(!SCEPSignedChallenge.isSignedToken("static-secret-1"))
    }
}
