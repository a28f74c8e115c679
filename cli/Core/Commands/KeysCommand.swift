import ArgumentParser
import Foundation

/// `certctl keys …`: API keys (admin role). A new key is printed once, on stdout, and never again.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list, show, revoke and rotate API keys (admin role).",
        subcommands: [KeysCreate.self, KeysList.self, KeysShow.self, KeysRevoke.self, KeysRotate.self])

    static func table(_ items: [JSONValue]) -> String {
        var table = Table(["ID", "ACTOR", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED", "DESCRIPTION"])
        for item in items {
            table.add([item["id"].text, item["actor"].text, item["role"].text, item["key_prefix"].text,
                       CertificateView.day(item["created_at"]), CertificateView.day(item["expires_at"]),
                       item["last_used_at"].text, CertificateView.day(item["revoked_at"]), item["description"].text])
        }
        return table.render()
    }

    static func details(_ item: JSONValue) -> String {
        var details = Details()
        for key in ["id", "actor", "role", "description", "key_prefix", "created_at", "created_by", "expires_at", "revoked_at",
                    "revoked_by", "last_used_at", "bootstrap", "replaces"] where key != "replaces" || !item[key].isNull {
            details.add(key, item[key].text)
        }
        return details.render()
    }

    /// Prints a new key: the secret alone on stdout (so `$(certctl keys create …)` captures it), the rest on stderr.
    static func announce(_ reply: AdminClient.Reply, json: Bool) {
        if json { return Console.json(reply.raw) }
        Console.err(details(reply.json))
        Console.err("The key is shown once; store it now:")
        Console.out(reply.json["key"].text)
    }
}

struct KeysCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an API key.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Who the key acts as (recorded in the audit log).") var actor: String
    @Option(help: "admin, operator or auditor.", completion: .list(["admin", "operator", "auditor"])) var role: String
    @Option(help: "What the key is for.") var description: String?
    @Option(name: .customLong("expires-at"), help: "RFC 3339 expiry time.") var expiresAt: String?

    func run() async throws {
        let reply = try await global.client().post("/api/v1/api-keys", .object([
            "actor": .string(actor), "role": .string(role), "description": description.map(JSONValue.string),
            "expires_at": expiresAt.map(JSONValue.string),
        ]))
        KeysCommand.announce(reply, json: global.json)
    }
}

struct KeysList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List API keys.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("include-revoked"), help: "Also list revoked keys.") var includeRevoked = false

    func run() async throws {
        let reply = try await global.client().get("/api/v1/api-keys", query: includeRevoked ? [("include_revoked", "true")] : [])
        if global.json { return Console.json(reply.raw) }
        Console.out(KeysCommand.table(reply.json["items"].array))
    }
}

struct KeysShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one API key (never its secret).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key id.") var id: String

    func run() async throws {
        let reply = try await global.client().get("/api/v1/api-keys/\(id.pathSegment)")
        if global.json { return Console.json(reply.raw) }
        Console.out(KeysCommand.details(reply.json))
    }
}

struct KeysRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke an API key (refused for the last active admin key).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key id.") var id: String

    func run() async throws {
        let reply = try await global.client().post("/api/v1/api-keys/\(id.pathSegment)/revoke")
        if global.json { return Console.json(reply.raw) }
        Console.out(KeysCommand.details(reply.json))
    }
}

struct KeysRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Replace an API key with a new one of the same actor and role; the old one is revoked.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key id.") var id: String

    func run() async throws {
        let reply = try await global.client().post("/api/v1/api-keys/\(id.pathSegment)/rotate")
        KeysCommand.announce(reply, json: global.json)
    }
}
