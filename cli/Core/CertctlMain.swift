import ArgumentParser
import Foundation

/// Runs the command line and turns every outcome into a documented exit status: CLIErrors print
/// `error: code: message`, ArgumentParser's usage errors exit 2, nothing prints a stack trace.
public enum CertctlMain {
    public static func run(_ arguments: [String]? = nil) async -> Never {
        do {
            var command = try Certctl.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(ExitStatus.ok.rawValue)
        } catch let error as CLIError {
            Console.err("error: \(error)")
            exit(error.status.rawValue)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = Certctl.exitCode(for: error)
            if code == .success { Certctl.exit(withError: error) }  // --help, --version, completion scripts
            if code == .validationFailure {
                Console.err(Certctl.fullMessage(for: error))
                exit(ExitStatus.usage.rawValue)
            }
            Console.err("error: \(Certctl.message(for: error))")
            exit(ExitStatus.failure.rawValue)
        }
    }
}

/// `certctl`: the operator CLI of certctl, a client of the admin REST API.
struct Certctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certctl",
        abstract: "Operate a certctl private CA through its admin API.",
        discussion: """
            Log in once (certctl login --url URL --api-key KEY), then run commands. Exit statuses: 0 ok, \
            1 refused or failed, 2 usage, 3 unauthenticated or forbidden, 4 not found, 5 unreachable, \
            6 OCSP revoked, 7 OCSP unknown, 8 verification failed, 9 bulk work partly done. See docs/cli.md.
            """,
        version: "certctl 1.0",
        subcommands: [
            Login.self, CertCommand.self, IssuerCommand.self, CRLCommand.self, OCSPCommand.self, KeysCommand.self,
            AuditCommand.self, SCEPCommand.self, ESTCommand.self, ApprovalsCommand.self,
        ])
}

/// Options every command that talks to the server takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Profile of the config file to use (default: the config's default_profile, else \"default\").")
    var profile: String?

    @Option(help: "Admin API base URL (overrides CERTCTL_URL and the profile).")
    var url: String?

    @Option(name: .customLong("api-key"), help: "API key (overrides CERTCTL_API_KEY and the profile; visible to other users in ps).")
    var apiKey: String?

    @Option(help: ArgumentHelp("PEM file of the CA certificate(s) that issued the server's TLS certificate.", valueName: "file"),
            completion: .file())
    var cacert: String?

    @Option(help: "Seconds to wait for each request.")
    var timeout: Int = 30

    @Option(name: [.customShort("o"), .long], help: "table (readable) or json (the API's JSON).")
    var output: OutputFormat = .table

    var json: Bool { output == .json }

    func client() throws -> AdminClient { AdminClient(try Connection.resolve(self)) }
}
