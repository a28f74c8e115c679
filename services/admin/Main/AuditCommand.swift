import ArgumentParser
import CertctlConfig
import CertctlStore
import Foundation

/// `certctl-admin audit verify|head`: the audit trail's hash chain checked
/// straight from the database (admin's CERTCTL_DATABASE_URL), for the host
/// where the API is down or not trusted. docs/audit.md.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify the audit trail's hash chain or print its head.",
        subcommands: [Verify.self, Head.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the chain from its start (or --from-seq) to the head; exit 1 at the first broken link, which it names.")

        @Option(help: "The first chain_seq to check (the link before it is taken as stored).")
        var fromSeq: Int64 = 1

        @Option(help: "The hash (64 hex digits) of the link before --from-seq, when that row was archived.")
        var prevHash: String?

        @Option(help: "A head exported earlier, SEQ:HEX (the `audit chain head` log line); checked as well.")
        var anchor: String?

        func run() async throws {
            var anchorLink: (Int64, [UInt8])?
            if let anchor {
                let parts = anchor.split(separator: ":")
                guard parts.count == 2, let seq = Int64(parts[0]), let hash = Hex.bytes(String(parts[1])), hash.count == 32 else {
                    throw ValidationError("--anchor must be SEQ:HASH with a 64-digit hex hash")
                }
                anchorLink = (seq, hash)
            }
            var previous: [UInt8]?
            if let prevHash {
                guard let bytes = Hex.bytes(prevHash), bytes.count == 32 else { throw ValidationError("--prev-hash must be 64 hex digits") }
                previous = bytes
            }
            var broken: AuditChain.Break?
            try await AdminCLIContext.runDatabase(label: "certctl-admin audit") { database, logger in
                let chain = AuditChain(client: database.client, logger: logger)
                try await chain.sealAll()
                var next: Int64? = fromSeq
                var checked = 0
                var head: Int64 = 0
                while let from = next, broken == nil {
                    let page = try await chain.verify(fromSeq: from, limit: 50_000, previousHash: from == fromSeq ? previous : nil)
                    checked += page.checked
                    head = page.headSeq
                    broken = page.firstBroken
                    next = page.nextSeq
                }
                if broken == nil, let (seq, hash) = anchorLink {
                    broken = try await chain.verifyAnchor(seq: seq, hash: hash)
                }
                if let broken {
                    print("BROKEN at chain_seq \(broken.seq)\(broken.id.map { " (audit_events.id \($0))" } ?? ""): \(broken.reason)")
                } else {
                    print("OK: \(checked) links checked up to chain_seq \(head)\(anchorLink.map { ", anchor \($0.0) matches" } ?? "")")
                }
            }
            if broken != nil { throw ExitCode(1) }
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the chain head as SEQ:HASH (to anchor it elsewhere).")

        func run() async throws {
            try await AdminCLIContext.runDatabase(label: "certctl-admin audit") { database, logger in
                let chain = AuditChain(client: database.client, logger: logger)
                try await chain.sealAll()
                let head = try await chain.head()
                print("\(head.seq):\(Hex.string(head.hash))")
            }
        }
    }
}
