import ArgumentParser
import Foundation

/// `certctl est label …`: EST labels (`/.well-known/est/<label>`) and their HTTP Basic users.
struct ESTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "est", abstract: "EST labels.", subcommands: [ESTLabel.self])
}

struct ESTLabel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label", abstract: "List, show and create EST labels; set their Basic-auth users.",
        subcommands: [List.self, Show.self, Create.self, SetUser.self])

    static func details(_ item: JSONValue) -> String {
        var details = Details()
        for key in ["name", "path", "issuer_id", "profile_id", "allow_basic", "allow_mtls", "trust_anchor", "require_approval",
                    "accept_renewals_from"] {
            details.add(key, item[key].text)
        }
        return details.render()
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List EST labels.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let reply = try await global.client().get("/api/v1/est/labels")
            if global.json { return Console.json(reply.raw) }
            var table = Table(["NAME", "PATH", "ISSUER", "PROFILE", "BASIC", "MTLS", "APPROVAL"])
            for item in reply.json["items"].array {
                table.add([item["name"].text, item["path"].text, item["issuer_id"].text, item["profile_id"].text,
                           item["allow_basic"].text, item["allow_mtls"].text, item["require_approval"].text])
            }
            Console.out(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one EST label.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Label name.") var name: String

        func run() async throws {
            // the API has no GET of one label: pick it from the list
            let reply = try await global.client().get("/api/v1/est/labels")
            guard let item = reply.json["items"].array.first(where: { $0["name"].string == name }) else {
                throw CLIError(.notFound, "est_label_not_found", "EST label \(name) does not exist")
            }
            if global.json { return try Console.json(item) }
            Console.out(ESTLabel.details(item))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an EST label (admin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Label name.") var name: String
        @Option(help: "Issuer id.") var issuer: String
        @Option(name: .customLong("cert-profile"), help: "Certificate profile id (default: default).") var certProfile: String?
        @Flag(name: .customLong("no-basic"), help: "Refuse HTTP Basic authentication.") var noBasic = false
        @Option(name: .customLong("mtls-trust-anchor"), help: "Accept client certificates under this trust anchor (purpose est-mtls).")
        var mtlsTrustAnchor: String?
        @Flag(name: .customLong("require-approval"), help: "Hold requests for approval.") var requireApproval = false

        func run() async throws {
            let reply = try await global.client().post("/api/v1/est/labels", .object([
                "name": .string(name), "issuer_id": .string(issuer), "profile_id": certProfile.map(JSONValue.string),
                "allow_basic": .bool(!noBasic), "allow_mtls": .bool(mtlsTrustAnchor != nil),
                "trust_anchor": mtlsTrustAnchor.map(JSONValue.string), "require_approval": .bool(requireApproval),
            ]))
            if global.json { return Console.json(reply.raw) }
            Console.out(ESTLabel.details(reply.json))
        }
    }

    struct SetUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-user", abstract: "Create a Basic-auth user or give it a new password (printed once on stdout).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Label name.") var label: String
        @Argument(help: "User name.") var username: String

        func run() async throws {
            let reply = try await global.client().post("/api/v1/est/labels/\(label.pathSegment)/users", ["username": .string(username)])
            if global.json { return Console.json(reply.raw) }
            Console.err("password of \(username) on EST label \(label) (shown once):")
            Console.out(reply.json["password"].text)
        }
    }
}
