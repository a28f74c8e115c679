import ArgumentParser
import Foundation

/// `certctl scep endpoint …`: SCEP endpoints (`/api/v1/scep/profiles`) and their one-time challenges.
struct SCEPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scep", abstract: "SCEP endpoints.", subcommands: [SCEPEndpoint.self])
}

struct SCEPEndpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint", abstract: "List, show, create and delete SCEP endpoints; make one-time challenges.",
        subcommands: [List.self, Show.self, Create.self, Delete.self, Challenge.self])

    static func details(_ item: JSONValue) -> String {
        var details = Details()
        for key in ["name", "path", "issuer_id", "profile_id", "ra_cert_path", "ra_key_path", "has_static_challenge",
                    "allow_one_time_challenges", "validity_days", "signed_challenge_trust_anchor", "require_approval",
                    "accept_renewals_from", "created_at"] {
            details.add(key, item[key].text)
        }
        return details.render()
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List SCEP endpoints.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let reply = try await global.client().get("/api/v1/scep/profiles")
            if global.json { return Console.json(reply.raw) }
            var table = Table(["NAME", "PATH", "ISSUER", "PROFILE", "ONE-TIME", "STATIC", "APPROVAL"])
            for item in reply.json["items"].array {
                table.add([item["name"].text, item["path"].text, item["issuer_id"].text, item["profile_id"].text,
                           item["allow_one_time_challenges"].text, item["has_static_challenge"].text, item["require_approval"].text])
            }
            Console.out(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one SCEP endpoint.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Endpoint name.") var name: String

        func run() async throws {
            let reply = try await global.client().get("/api/v1/scep/profiles/\(name.pathSegment)")
            if global.json { return Console.json(reply.raw) }
            Console.out(SCEPEndpoint.details(reply.json))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a SCEP endpoint (admin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Endpoint name (served at /scep/NAME).") var name: String
        @Option(help: "Issuer id.") var issuer: String
        @Option(name: .customLong("cert-profile"), help: "Certificate profile id (default: default).") var certProfile: String?
        @Option(name: .customLong("ra-cert"), help: "RA certificate path, as certctl-enroll reads it.") var raCert: String
        @Option(name: .customLong("ra-key"), help: "RA key path, as certctl-enroll reads it.") var raKey: String
        @Option(name: .customLong("static-challenge-file"), help: "File holding a static challenge password.", completion: .file())
        var staticChallengeFile: String?
        @Flag(name: .customLong("no-one-time-challenges"), help: "Refuse one-time challenges.") var noOneTime = false
        @Option(name: .customLong("validity-days")) var validityDays: Int?
        @Flag(name: .customLong("require-approval"), help: "Hold requests for approval.") var requireApproval = false

        func run() async throws {
            let challenge = try staticChallengeFile.map {
                String(decoding: try OutputFile.read($0), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let reply = try await global.client().post("/api/v1/scep/profiles", .object([
                "name": .string(name), "issuer_id": .string(issuer), "profile_id": certProfile.map(JSONValue.string),
                "ra_cert_path": .string(raCert), "ra_key_path": .string(raKey), "static_challenge": challenge.map(JSONValue.string),
                "allow_one_time_challenges": .bool(!noOneTime), "validity_days": validityDays.map { .number(Double($0)) },
                "require_approval": .bool(requireApproval),
            ]))
            if global.json { return Console.json(reply.raw) }
            Console.out(SCEPEndpoint.details(reply.json))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a SCEP endpoint (admin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Endpoint name.") var name: String

        func run() async throws {
            try await global.client().delete("/api/v1/scep/profiles/\(name.pathSegment)")
            Console.err("SCEP endpoint \(name) deleted")
        }
    }

    struct Challenge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a one-time challenge password (printed once on stdout).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Endpoint name.") var name: String
        @Option(help: "Seconds the challenge stays valid (60–2592000).") var ttl: Int?
        @Option(name: .customLong("expected-subject"), help: "Subject the CSR must carry.") var expectedSubject: String?
        @Option(name: .customLong("expected-san"), help: "subjectAltName the CSR must request (repeatable): DNS:…, IP:…")
        var expectedSAN: [String] = []

        func run() async throws {
            let reply = try await global.client().post("/api/v1/scep/\(name.pathSegment)/challenges", .object([
                "ttl_seconds": ttl.map { .number(Double($0)) }, "expected_subject": expectedSubject.map(JSONValue.string),
                "expected_sans": expectedSAN.isEmpty ? nil : .array(expectedSAN.map(JSONValue.string)),
            ]))
            if global.json { return Console.json(reply.raw) }
            Console.err("challenge \(reply.json["id"].text) for \(name), expires \(reply.json["expires_at"].text)")
            Console.out(reply.json["challenge"].text)
        }
    }
}
