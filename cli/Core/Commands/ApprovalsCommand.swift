import ArgumentParser
import Foundation

/// `certctl approvals …`: SCEP/EST requests held for approval (`/api/v1/enrollment/requests`).
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "Enrollment requests held for approval.",
        subcommands: [List.self, Show.self, Approve.self, Reject.self])

    static func details(_ item: JSONValue) -> String {
        var details = Details()
        for key in ["id", "status", "protocol", "endpoint", "operation", "subject", "subject_alt_names", "requester", "remote",
                    "issuer_id", "profile_id", "csr_sha256", "certificate_id", "decided_by", "decided_at", "reason", "created_at"] {
            details.add(key, item[key].text)
        }
        return details.render()
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List requests (default: pending ones).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "pending, issued, rejected, failed or all.") var status: String = "pending"
        @Option(name: .customLong("protocol"), help: "scep or est.") var protocolName: String?
        @Option(help: "Endpoint or label name.") var endpoint: String?
        @Option(help: "At most this many.") var limit: Int = 100

        func run() async throws {
            var filters: [(String, String)] = []
            if status != "all" { filters.append(("status", status)) }
            if let protocolName { filters.append(("protocol", protocolName)) }
            if let endpoint { filters.append(("endpoint", endpoint)) }
            let items = try await Pages.collect(try global.client(), "/api/v1/enrollment/requests", filters, max: limit)
            if global.json { return try Console.json(.object(["items": .array(items)])) }
            var table = Table(["ID", "STATUS", "PROTOCOL", "ENDPOINT", "REQUESTER", "CREATED", "SUBJECT"])
            for item in items {
                table.add([item["id"].text, item["status"].text, item["protocol"].text, item["endpoint"].text,
                           item["requester"].text, String(item["created_at"].text.prefix(19)), item["subject"].text])
            }
            Console.out(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one request.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Request id.") var id: String

        func run() async throws {
            let reply = try await global.client().get("/api/v1/enrollment/requests/\(id.pathSegment)")
            if global.json { return Console.json(reply.raw) }
            Console.out(ApprovalsCommand.details(reply.json))
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve: issue the certificate now (the device collects it on its next poll).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Request id.") var id: String

        func run() async throws {
            let reply = try await global.client().post("/api/v1/enrollment/requests/\(id.pathSegment)/approve")
            if global.json { return Console.json(reply.raw) }
            Console.out(ApprovalsCommand.details(reply.json))
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject with a reason.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Request id.") var id: String
        @Option(help: "Why (1–1000 characters, recorded and shown to nobody but operators).") var reason: String

        func run() async throws {
            let reply = try await global.client().post("/api/v1/enrollment/requests/\(id.pathSegment)/reject", ["reason": .string(reason)])
            if global.json { return Console.json(reply.raw) }
            Console.out(ApprovalsCommand.details(reply.json))
        }
    }
}
