import ArgumentParser
import CertctlConfig
import CertctlObservability
import CertctlRuntime
import CertctlStore
import Foundation
import Logging

/// `certctl-admin provision-database`: as a Postgres superuser, creates the
/// owner and per-service roles with passwords and the database they share.
/// Each role's password lives in DIR/<role>.password (mode 0600): reused when
/// present, generated when missing. Run it once per deployment (and again to
/// rotate passwords: delete a file first).
struct ProvisionDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision-database",
        abstract: "Create certctl's database roles (owner + one per service) and its database, as a Postgres superuser.")

    @Option(name: .customLong("server-url"), help: "A superuser's postgres:// URL to an existing database on the server (e.g. postgres).")
    var serverURL: String
    @Option(name: .customLong("server-password-file"), help: "File holding the superuser's password (instead of one in --server-url).")
    var serverPasswordFile: String?
    @Option(help: "The database to create (owned by certctl_owner).")
    var database: String = "certctl"
    @Option(name: .customLong("password-dir"), help: "Directory of <role>.password files (mode 0600), created when missing.")
    var passwordDirectory: String?
    @Flag(name: .customLong("no-passwords"), help: "Roles without passwords (trust-authenticated test clusters only).")
    var noPasswords = false

    func validate() throws {
        guard (passwordDirectory == nil) == noPasswords else {
            throw ValidationError("give exactly one of --password-dir DIR or --no-passwords")
        }
    }

    func run() async throws {
        guard var server = DatabaseURL(parsing: serverURL) else { throw ValidationError("--server-url is not a postgres:// URL") }
        if let path = serverPasswordFile {
            try PrivateFile.checkOwnerOnly(path, variable: "--server-password-file")
            server.password = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        LoggingSetup.bootstrap(level: .warning, format: .text)
        var passwords: [String: String?] = [:]
        for role in DatabaseRoles.all {
            passwords[role] = try passwordDirectory.map { try Self.password(role: role, directory: $0) }
        }
        do {
            try await DatabaseRoles.provision(server: server, database: database, passwords: passwords,
                                              logger: Logger(label: "certctl-admin.provision"))
        } catch {
            ServiceProcess.exitWith("certctl-admin provision-database: \(DatabaseErrorText.describe(error))", code: 1)
        }
        print("provisioned database \(database) with roles \(DatabaseRoles.all.joined(separator: ", "))"
              + (passwordDirectory.map { "; passwords in \($0)/<role>.password" } ?? ""))
    }

    /// The role's password from its file, or a new random one written to it (mode 0600).
    static func password(role: String, directory: String) throws -> String {
        try PrivateFile.ensurePrivateDirectory(directory, variable: "--password-dir")
        let path = "\(directory)/\(role).password"
        if FileManager.default.fileExists(atPath: path) {
            try PrivateFile.checkOwnerOnly(path, variable: "--password-dir")
            return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        let password = Hex.random(octets: 24)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array((password + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw ValidationError("cannot write \(path)") }
        return password
    }
}
