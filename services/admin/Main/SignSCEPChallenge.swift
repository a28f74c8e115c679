import ArgumentParser
import CertctlConfig
import CertctlPKI
import Foundation

/// Prints a signed SCEP challenge made with a connector key: what an MDM
/// connector does for each device, for trying a profile by hand and for tests.
/// The token format is in docs/scep-intune.md.
struct SignSCEPChallenge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-scep-challenge",
        abstract: "Print a signed SCEP challenge (v1:…:sig=…) made with a connector's P-256 or P-384 key.")

    @Option(name: .long, help: "PEM private key of the connector (P-256 or P-384).")
    var key: String

    @Option(name: .long, help: "SCEP profile the challenge is for (its audience).")
    var profile: String

    @Option(name: .long, help: "Seconds the challenge stays valid (at most 604800).")
    var ttl: Int = 3600

    @Option(name: .long, help: "Bind the challenge to this subject commonName.")
    var cn: String?

    @Option(name: .long, help: "Token id (8-64 of A-Z, a-z, 0-9, '-'); random when omitted.")
    var id: String?

    func run() throws {
        guard (1...604_800).contains(ttl) else { throw ValidationError("--ttl must be 1 to 604800 seconds") }
        guard let pem = try? String(contentsOfFile: key, encoding: .utf8) else { throw ValidationError("cannot read --key \(key)") }
        let now = Date()
        let token: String
        do {
            token = try SCEPSignedChallenge.sign(keyPEM: pem, audience: profile, notBefore: now, notAfter: now + Double(ttl),
                                                 id: id ?? Hex.random(octets: 12), commonName: cn)
        } catch {
            throw ValidationError("--key must be a P-256 or P-384 private key in PEM: \(error)")
        }
        do {
            _ = try SCEPSignedChallenge.parse(token)
        } catch {
            throw ValidationError("\(error)")
        }
        print(token)
    }
}
