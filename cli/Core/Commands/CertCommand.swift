import ArgumentParser
import Foundation

/// `certctl cert …`: certificates.
struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Issue, list, show, revoke and export certificates.",
        subcommands: [CertIssue.self, CertList.self, CertShow.self, CertRevoke.self, CertRevokeBulk.self, CertExport.self])
}

struct CertList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List certificates, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "pending, issued, failed or revoked.") var status: String?
    @Option(help: "Issuer id.") var issuer: String?
    @Option(name: .customLong("cert-profile"), help: "Certificate profile id.") var certProfile: String?
    @Option(name: [.customShort("q"), .long], help: "Text in the subject or a subjectAltName.") var query: String?
    @Option(help: "Serial in hex.") var serial: String?
    @Option(name: .customLong("expiring-before"), help: "RFC 3339 timestamp.") var expiringBefore: String?
    @Option(name: .customLong("issued-before"), help: "RFC 3339 timestamp.") var issuedBefore: String?
    @Option(help: "At most this many (all pages are followed up to it).") var limit: Int = 100
    @Flag(help: "Follow every page.") var all = false

    func run() async throws {
        let client = try global.client()
        var filters: [(String, String)] = []
        if let status { filters.append(("status", status)) }
        if let issuer { filters.append(("issuer_id", issuer)) }
        if let certProfile { filters.append(("profile_id", certProfile)) }
        if let query { filters.append(("q", query)) }
        if let serial { filters.append(("serial", serial)) }
        if let expiringBefore { filters.append(("expiring_before", expiringBefore)) }
        if let issuedBefore { filters.append(("issued_before", issuedBefore)) }
        let items = try await Pages.collect(client, "/api/v1/certificates", filters, max: all ? Int.max : limit)
        if global.json { return try Console.json(.object(["items": .array(items)])) }
        Console.out(CertificateView.table(items))
    }
}

struct CertShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one certificate (by id or serial).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Certificate id (UUID) or serial (hex).") var certificate: String
    @Flag(help: "Print only the certificate PEM.") var pem = false
    @Flag(help: "Print only the certificate and chain PEM.") var chain = false

    func run() async throws {
        let reply = try await CertificateRef.fetch(certificate, try global.client())
        if pem || chain {
            guard let text = reply.json[chain ? "chain_pem" : "certificate_pem"].string else {
                throw CLIError(.failure, "no_certificate", "certificate \(certificate) has no certificate (status \(reply.json["status"].text))")
            }
            return FileHandle.standardOutput.write(Data(text.utf8))
        }
        if global.json { return Console.json(reply.raw) }
        Console.out(CertificateView.details(reply.json))
    }
}

/// Follows `next_cursor` pages of a list route.
enum Pages {
    static func collect(_ client: AdminClient, _ path: String, _ filters: [(String, String)], max: Int,
                        onPage: ([JSONValue]) -> Void = { _ in }) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        repeat {
            var query = filters + [("limit", "\(min(500, max - items.count))")]
            if let cursor { query.append(("cursor", cursor)) }
            let page = try await client.get(path, query: query)
            let batch = page.json["items"].array
            items += batch
            onPage(batch)
            cursor = page.json["next_cursor"].string
        } while cursor != nil && items.count < max
        return items
    }
}
