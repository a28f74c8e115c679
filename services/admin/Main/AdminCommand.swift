import ArgumentParser
import CertctlAdminCore
import CertctlConfig
import CertctlObservability
import CertctlRuntime
import CertctlStore
import Foundation
import Logging

@main
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certctl-admin",
        abstract: "certctl admin service: REST API and database migrations.",
        subcommands: [Serve.self, Migrate.self, ProvisionDatabase.self, ConfigReference.self, SignSCEPChallenge.self, IssuerCommand.self, DoctorCommand.self, AuditCommand.self],
        defaultSubcommand: Serve.self)
}

/// Runs the admin service (the default).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the admin API (default).")

    func run() async throws {
        await ServiceProcess.run(AdminConfig.self) { try AdminService.assemble($0) }
    }
}

/// Applies pending migrations and exits: 0 when the schema is current,
/// 1 with the SQL error when a migration fails (it is rolled back).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations, then exit.")

    func run() async throws {
        let environment = Environment(ProcessInfo.processInfo.environment)
        let common: CommonConfig
        do {
            common = try CommonConfig(environment)
        } catch {
            ServiceProcess.exitWith("certctl-admin migrate: \(error)", code: ConfigError.exitCode)
        }
        LoggingSetup.bootstrap(level: common.logLevel, format: common.logFormat == .json ? .json : .text)
        let logger = Logger(label: "certctl-admin.migrate")
        do {
            let migrator = Migrator(migrations: try Migration.bundled())
            let applied = try await migrator.migrate(common.database, appliedBy: "certctl-admin migrate", logger: logger)
            print(applied.isEmpty
                ? "schema is current (\(migrator.migrations.count) migrations)"
                : "applied \(applied.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))")
        } catch let error as MigrationError {
            ServiceProcess.exitWith("certctl-admin migrate: \(error)", code: 1)
        } catch {
            ServiceProcess.exitWith(
                "certctl-admin migrate: cannot reach database \(common.database.redacted): \(DatabaseErrorText.describe(error))",
                code: 1)
        }
    }
}

/// Prints every CERTCTL_* variable (tab-separated: name, default, required,
/// services). `scripts/check-docs` compares it with docs/features.md.
struct ConfigReference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference", abstract: "Print the configuration variables this build reads.")

    func run() async throws {
        for variable in Catalog.all {
            print([
                variable.name, variable.defaultText ?? "", variable.isRequired ? "required" : "optional",
                variable.services.map(\.rawValue).joined(separator: ","),
            ].joined(separator: "\t"))
        }
    }
}
