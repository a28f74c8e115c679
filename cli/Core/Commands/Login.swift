import ArgumentParser
import Foundation

/// `certctl login`: checks the URL and key against the server, then stores them as a profile.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a server URL and API key (and CA file) in the config file (mode 0600).")

    @Option(help: "Admin API base URL, such as https://certctl.example.net:8443.")
    var url: String

    @Option(name: .customLong("api-key"), help: "API key (cctl_…). Use --api-key-file to keep it off the command line.")
    var apiKey: String?

    @Option(name: .customLong("api-key-file"), help: "File holding the API key ('-' for stdin).", completion: .file())
    var apiKeyFile: String?

    @Option(help: "PEM CA certificate file for https.", completion: .file())
    var cacert: String?

    @Option(help: "Profile name to store under.")
    var profile: String = "default"

    @Flag(name: .customLong("set-default"), help: "Make this the default profile (the first profile stored always is).")
    var setDefault = false

    @Flag(name: .customLong("no-verify"), help: "Store without checking the key against the server.")
    var noVerify = false

    @Option(help: "Seconds to wait for the check.")
    var timeout: Int = 30

    func validate() throws {
        guard (apiKey == nil) != (apiKeyFile == nil) else { throw ValidationError("give exactly one of --api-key and --api-key-file") }
        _ = try RequestURL(url)
    }

    func run() async throws {
        let key: String
        if let apiKeyFile {
            key = String(decoding: try OutputFile.read(apiKeyFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            key = apiKey ?? ""
        }
        guard !key.isEmpty else { throw CLIError.usage("the API key is empty") }
        let caFile = cacert.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if !noVerify {
            // Any role may list issuers: a 401 here means the key is wrong, not that it lacks a role.
            let client = AdminClient(Connection(url: url, apiKey: key, caFile: caFile, timeoutSeconds: timeout))
            _ = try await client.get("/api/v1/issuers")
        }
        let path = ConfigFile.defaultPath()
        var config = try ConfigFile.load(path)
        config.profiles[profile] = .init(url: url, api_key: key, cacert: caFile)
        if setDefault || config.default_profile == nil || config.profiles.count == 1 { config.default_profile = profile }
        try config.save(path)
        Console.err("logged in: profile \(profile) → \(url) (saved in \(path))")
    }
}
