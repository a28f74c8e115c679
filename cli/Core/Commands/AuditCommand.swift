import ArgumentParser
import Foundation

/// `certctl audit …`: the hash-chained audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the audit log.", subcommands: [AuditTail.self, AuditHead.self, AuditVerify.self])
}

struct AuditTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "The newest audit events, oldest first; --follow polls for more.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.customShort("n"), .long], help: "How many of the newest events (1–500).") var lines: Int = 20
    @Option(help: "Only this action (such as certificate.revoke).") var action: String?
    @Option(name: .customLong("target-id"), help: "Only events about this target.") var targetID: String?
    @Flag(name: [.customShort("f"), .long], help: "Keep polling and print new events as they come (Ctrl-C to stop).") var follow = false
    @Option(help: "Seconds between polls with --follow.") var interval: Int = 2

    func validate() throws {
        guard (1...500).contains(lines) else { throw ValidationError("--lines must be from 1 to 500") }
        guard interval >= 1 else { throw ValidationError("--interval must be at least 1") }
    }

    func run() async throws {
        let client = try global.client()
        var filters: [(String, String)] = []
        if let action { filters.append(("action", action)) }
        if let targetID { filters.append(("target_id", targetID)) }
        var events = try await client.get("/api/v1/audit", query: filters + [("limit", "\(lines)")]).json["items"].array
        var lastID = events.first?["id"].int ?? 0
        if !global.json { Console.out(Self.header) }
        try show(events.reversed())
        while follow {
            try await Task.sleep(for: .seconds(interval))
            // newest first: keep paging back until we reach what was already printed
            var fresh: [JSONValue] = []
            var cursor: String?
            repeat {
                var query = filters + [("limit", "500")]
                if let cursor { query.append(("cursor", cursor)) }
                let page = try await client.get("/api/v1/audit", query: query).json
                let items = page["items"].array
                fresh += items.prefix { ($0["id"].int ?? 0) > lastID }
                cursor = items.last.flatMap { ($0["id"].int ?? 0) > lastID ? page["next_cursor"].string : nil }
            } while cursor != nil
            events = fresh
            lastID = max(lastID, events.first?["id"].int ?? 0)
            try show(events.reversed())
        }
    }

    static let header = row(["ID", "SEQ", "TIME", "SERVICE", "ACTOR", "ACTION", "OUTCOME", "TARGET", "ERROR"])

    static func row(_ cells: [String]) -> String {
        let widths = [8, 8, 20, 8, 14, 28, 8, 40]
        return cells.enumerated().map { index, cell in
            index < widths.count ? cell.padding(toLength: max(widths[index], cell.count), withPad: " ", startingAt: 0) : cell
        }.joined(separator: " ")
    }

    private func show(_ events: some Sequence<JSONValue>) throws {
        for event in events {
            if global.json { try Console.json(event); continue }
            let target = event["target_id"].isNull ? "-" : "\(event["target_type"].text):\(event["target_id"].text)"
            Console.out(Self.row([event["id"].text, event["chain_seq"].text, String(event["occurred_at"].text.prefix(19)),
                                  event["service"].text, event["actor"].text, event["action"].text, event["outcome"].text,
                                  target, event["error_code"].text]))
        }
    }
}

struct AuditHead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head", abstract: "The chain head (seq and hash) to anchor elsewhere; check it later with verify --anchor SEQ:HASH.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let reply = try await global.client().get("/api/v1/audit/head")
        if global.json { return Console.json(reply.raw) }
        var details = Details()
        for key in ["seq", "hash", "sealed_at", "unsealed"] { details.add(key, reply.json[key].text) }
        Console.out(details.render())
        Console.out("anchor: \(reply.json["seq"].text):\(reply.json["hash"].text)")
    }
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Walk the hash chain from a sequence number to the head, page by page, and name the first broken link.",
        discussion: "Exit status 0 when every link checks, 8 at the first broken one.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("from-seq"), help: "First sequence number to check.") var fromSeq: Int = 1
    @Option(name: .customLong("page-size"), help: "Links per request (1–100000).") var pageSize: Int = 10_000
    @Option(help: "Check an exported head instead: SEQ:HASH.") var anchor: String?

    func validate() throws {
        guard (1...100_000).contains(pageSize) else { throw ValidationError("--page-size must be from 1 to 100000") }
        if let anchor, Self.parseAnchor(anchor) == nil { throw ValidationError("--anchor must be SEQ:HEX, as certctl audit head prints") }
    }

    static func parseAnchor(_ text: String) -> (seq: String, hash: String)? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, Int(parts[0]) != nil, !parts[1].isEmpty, parts[1].allSatisfy(\.isHexDigit) else { return nil }
        return (parts[0], parts[1].lowercased())
    }

    func run() async throws {
        let client = try global.client()
        if let anchor, let (seq, hash) = Self.parseAnchor(anchor) {
            let reply = try await client.get("/api/v1/audit/verify", query: [("anchor_seq", seq), ("anchor_hash", hash)])
            return try finish(reply.json, raw: reply.raw, checked: reply.json["checked"].int ?? 0)
        }
        var next: Int? = fromSeq
        var checked = 0
        var progress: Progress?
        var last: AdminClient.Reply?
        while let start = next {
            let reply = try await client.get("/api/v1/audit/verify", query: [("from_seq", "\(start)"), ("limit", "\(pageSize)")])
            last = reply
            let head = reply.json["head_seq"].int ?? start
            if progress == nil { progress = Progress("verifying", total: max(0, head - start + 1)) }
            progress?.setTotal(max(0, head - fromSeq + 1))
            let count = reply.json["checked"].int ?? 0
            checked += count
            progress?.advance(by: count)
            guard reply.json["ok"].bool == true else { break }
            next = reply.json["next_seq"].int
            if count == 0 { break }  // nothing more to read, whatever next_seq says
        }
        progress?.finish()
        guard let last else { return }
        try finish(last.json, raw: last.raw, checked: checked)
    }

    private func finish(_ json: JSONValue, raw: [UInt8], checked: Int) throws {
        let ok = json["ok"].bool == true
        if global.json {
            Console.json(raw)
        } else if ok {
            Console.out("ok: \(checked) link(s) checked up to seq \(json["head_seq"].text)")
        } else {
            let broken = json["first_broken"]
            Console.out("BROKEN at seq \(broken["seq"].text) (event id \(broken["id"].text)): \(broken["reason"].text)")
        }
        if !ok { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}
