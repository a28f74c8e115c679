import Foundation

/// Where to send requests and with which key: `--url`/`--api-key`/`--cacert` over
/// `CERTCTL_URL`/`CERTCTL_API_KEY` over the selected profile of the config file.
public struct Connection: Sendable {
    public let url: String
    public let apiKey: String
    public let caFile: String?
    public let timeoutSeconds: Int

    static func resolve(_ options: GlobalOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Connection {
        func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
        let path = ConfigFile.defaultPath(environment: environment)
        let config = try ConfigFile.load(path)
        let name = options.profile ?? config.default_profile ?? "default"
        let profile = config.profiles[name]
        if let requested = options.profile, profile == nil {
            throw CLIError(.usage, "unknown_profile", "no profile \(requested) in \(path) (certctl login --profile \(requested) …)")
        }
        guard let url = nonEmpty(options.url) ?? nonEmpty(environment["CERTCTL_URL"]) ?? profile?.url else {
            throw CLIError(.unauthenticated, "not_logged_in", "no server URL: run certctl login --url URL --api-key KEY, or set CERTCTL_URL")
        }
        guard let key = nonEmpty(options.apiKey) ?? nonEmpty(environment["CERTCTL_API_KEY"]) ?? profile?.api_key else {
            throw CLIError(.unauthenticated, "not_logged_in", "no API key: run certctl login, or set CERTCTL_API_KEY")
        }
        return Connection(url: url, apiKey: key, caFile: nonEmpty(options.cacert) ?? profile?.cacert,
                          timeoutSeconds: options.timeout)
    }
}
