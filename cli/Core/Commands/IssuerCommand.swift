import ArgumentParser
import Foundation

/// `certctl issuer …`: the CAs and their key generations.
struct IssuerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issuer", abstract: "List, show and rotate issuers (CAs).",
        subcommands: [IssuerList.self, IssuerShow.self, IssuerRotate.self])
}

struct IssuerList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List issuers.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let reply = try await global.client().get("/api/v1/issuers")
        if global.json { return Console.json(reply.raw) }
        var table = Table(["ID", "STATUS", "GEN", "KEY", "NOT AFTER", "SUBJECT"])
        for item in reply.json["items"].array {
            table.add([item["id"].text, item["status"].text, item["generation"].text, item["key_algorithm"].text,
                       CertificateView.day(item["not_after"]), item["subject"].text])
        }
        Console.out(table.render())
    }
}

struct IssuerShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an issuer and its key generations.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Issuer id.") var issuer: String
    @Flag(help: "Print only the current CA certificate PEM.") var pem = false

    func run() async throws {
        let reply = try await global.client().get("/api/v1/issuers/\(issuer.pathSegment)")
        if pem { return FileHandle.standardOutput.write(Data(reply.json["certificate_pem"].text.utf8)) }
        if global.json { return Console.json(reply.raw) }
        var details = Details()
        for key in ["id", "display_name", "status", "generation", "subject", "key_algorithm", "not_before", "not_after",
                    "allow_sub_ca", "ocsp_url", "crl_url", "ca_issuers_url"] {
            details.add(key, reply.json[key].text)
        }
        Console.out(details.render())
        Console.out("")
        Console.out(IssuerView.generations(reply.json["generations"].array))
    }
}

struct IssuerRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Start a new key generation (self-signed now, or a sub-CA CSR to be signed elsewhere).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Issuer id.") var issuer: String
    @Option(help: "self-signed or sub-ca.") var mode: String?
    @Option(name: .customLong("key-algorithm"), help: "ecdsa-p256, ecdsa-p384, rsa-2048, … (default: the current one).")
    var keyAlgorithm: String?
    @Option(help: "Subject of the new CA certificate (default: the current one).") var subject: String?
    @Option(name: .customLong("validity-days")) var validityDays: Int?
    @Option(name: .customLong("activate-at"), help: "RFC 3339 time the new generation starts issuing.") var activateAt: String?
    @Flag(name: .customLong("cross-certificate"), help: "Also have the old key cross-sign the new one.") var crossCertificate = false

    func run() async throws {
        let reply = try await global.client().post("/api/v1/issuers/\(issuer.pathSegment)/rotations", .object([
            "mode": mode.map(JSONValue.string), "key_algorithm": keyAlgorithm.map(JSONValue.string),
            "subject": subject.map(JSONValue.string), "validity_days": validityDays.map { .number(Double($0)) },
            "activate_at": activateAt.map(JSONValue.string), "cross_certificate": crossCertificate ? .bool(true) : nil,
        ]))
        if global.json { return Console.json(reply.raw) }
        Console.out(IssuerView.generations([reply.json]))
        if let csr = reply.json["csr_pem"].string {
            Console.out("\nCSR for the parent CA (install the signed certificate with the API's generations/{n}/certificate):\n\(csr)")
        }
    }
}

enum IssuerView {
    static func generations(_ items: [JSONValue]) -> String {
        var table = Table(["GEN", "STATUS", "KEY", "NOT AFTER", "CERTS", "REVOKED", "LAST CRL", "CRL URL"])
        for item in items {
            let counts = item["certificates"]
            table.add([item["generation"].text, item["status"].text, item["key_algorithm"].text, CertificateView.day(item["not_after"]),
                       counts["total"].text, counts["revoked"].text, item["last_crl_number"].text, item["crl_url"].text])
        }
        return table.render()
    }
}
