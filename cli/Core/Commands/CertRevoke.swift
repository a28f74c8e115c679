import ArgumentParser
import Foundation

/// `certctl cert revoke`: one certificate, by id or serial.
struct CertRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke one certificate.")

    /// RFC 5280 CRLReason names the API accepts.
    static let reasons = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
                          "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise"]

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Certificate id (UUID) or serial (hex).") var certificate: String
    @Option(help: ArgumentHelp("Revocation reason.", valueName: "reason"), completion: .list(CertRevoke.reasons))
    var reason: String = "unspecified"
    @Option(name: .customLong("invalidity-date"), help: "RFC 3339 time the key is known or suspected to be compromised.")
    var invalidityDate: String?

    func run() async throws {
        let client = try global.client()
        let id = try await CertificateRef.id(certificate, client)
        let reply = try await client.post("/api/v1/certificates/\(id)/revoke", .object([
            "reason": .string(reason), "invalidity_date": invalidityDate.map(JSONValue.string),
        ]))
        if global.json { return Console.json(reply.raw) }
        Console.out(CertificateView.details(reply.json))
    }
}
