import ArgumentParser
import Foundation

/// `certctl cert revoke-bulk`: many certificates, from a file of ids/serials or from list filters, in
/// batches of at most 500 (`POST /api/v1/certificates/revocations`). The route is idempotent, so a
/// re-run after an interruption only reports `already_revoked` for what was done.
struct CertRevokeBulk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-bulk", abstract: "Revoke many certificates from a file or by filter, with per-item results.")

    static let batchSize = 500

    @OptionGroup var global: GlobalOptions
    @Option(help: "File with one certificate id or serial per line ('#' starts a comment; '-' for stdin).", completion: .file())
    var file: String?
    @Option(name: .customLong("cert-profile"), help: "Filter: certificate profile id.") var certProfile: String?
    @Option(help: "Filter: issuer id.") var issuer: String?
    @Option(help: "Filter: text in the subject or a subjectAltName.") var subject: String?
    @Option(name: .customLong("issued-before"), help: "Filter: issued before this RFC 3339 time.") var issuedBefore: String?
    @Option(help: ArgumentHelp("Revocation reason.", valueName: "reason"), completion: .list(CertRevoke.reasons))
    var reason: String = "unspecified"
    @Flag(name: .customLong("dry-run"), help: "List what would be revoked; change nothing.") var dryRun = false
    @Flag(help: "Print every item's result (default: only those not revoked now).") var verbose = false

    var usesFilter: Bool { certProfile != nil || issuer != nil || subject != nil || issuedBefore != nil }

    func validate() throws {
        guard (file != nil) != usesFilter else {
            throw ValidationError("give --file FILE, or filters (--cert-profile, --issuer, --subject, --issued-before), not both")
        }
        guard CertRevoke.reasons.contains(reason) else { throw ValidationError("--reason must be one of \(CertRevoke.reasons.joined(separator: ", "))") }
    }

    func run() async throws {
        let client = try global.client()
        let references = try await collect(client)
        if dryRun {
            if global.json { return try Console.json(.object(["items": .array(references.map { ["ref": .string($0.ref)] })])) }
            Console.out(references.isEmpty ? "nothing matches" : Table(["WOULD REVOKE", "SUBJECT"]).with(references.map { [$0.ref, $0.subject ?? "-"] }).render())
            Console.err("\(references.count) certificate(s) would be revoked (dry run)")
            return
        }
        let progress = Progress("revoking", total: references.count, enabled: !references.isEmpty)
        var results: [JSONValue] = []
        for start in stride(from: 0, to: references.count, by: Self.batchSize) {
            let batch = references[start..<min(start + Self.batchSize, references.count)]
            let items: [JSONValue] = batch.map { reference in
                UUID(uuidString: reference.ref) != nil ? ["id": .string(reference.ref)] : ["serial": .string(reference.ref)]
            }
            let reply = try await client.post("/api/v1/certificates/revocations", ["reason": .string(reason), "items": .array(items)])
            results += reply.json["results"].array
            progress.advance(by: batch.count)
        }
        progress.finish()
        try report(results)
    }

    struct Reference {
        let ref: String
        let subject: String?
    }

    private func collect(_ client: AdminClient) async throws -> [Reference] {
        if let file {
            return Self.parse(String(decoding: try OutputFile.read(file), as: UTF8.self)).map { Reference(ref: $0, subject: nil) }
        }
        var filters: [(String, String)] = [("status", "issued")]
        if let certProfile { filters.append(("profile_id", certProfile)) }
        if let issuer { filters.append(("issuer_id", issuer)) }
        if let subject { filters.append(("q", subject)) }
        if let issuedBefore { filters.append(("issued_before", issuedBefore)) }
        let progress = Progress("listing", total: 0, enabled: false)
        let items = try await Pages.collect(client, "/api/v1/certificates", filters, max: Int.max) { progress.advance(by: $0.count) }
        return items.compactMap { item in item["id"].string.map { Reference(ref: $0, subject: item["subject"].string) } }
    }

    /// Lines of a file: blank lines and `#` comments skipped, surrounding spaces trimmed, duplicates dropped.
    static func parse(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let value = content.trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty, seen.insert(value).inserted else { return nil }
            return value
        }
    }

    private func report(_ results: [JSONValue]) throws {
        var counts: [String: Int] = [:]
        for result in results { counts[result["outcome"].text, default: 0] += 1 }
        let failed = results.filter { !["revoked", "already_revoked"].contains($0["outcome"].text) }
        if global.json {
            try Console.json(.object(["results": .array(results)]))
        } else {
            let shown = verbose ? results : failed
            if !shown.isEmpty {
                var table = Table(["REF", "ID", "OUTCOME", "ERROR"])
                for item in shown {
                    let error = item["error_code"].isNull ? "-" : "\(item["error_code"].text): \(item["message"].text)"
                    table.add([item["ref"].text, item["id"].text, item["outcome"].text, error])
                }
                Console.out(table.render())
            }
            let summary = ["revoked", "already_revoked", "not_found", "invalid", "failed"]
                .compactMap { name in counts[name].map { "\($0) \(name)" } }.joined(separator: ", ")
            Console.out("\(results.count) item(s): \(summary.isEmpty ? "nothing to do" : summary)")
        }
        if !failed.isEmpty { throw ExitCode(ExitStatus.partial.rawValue) }
    }
}

extension Table {
    func with(_ rows: [[String]]) -> Table {
        var copy = self
        copy.rows += rows
        return copy
    }
}
