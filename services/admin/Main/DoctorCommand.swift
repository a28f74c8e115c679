import ArgumentParser
import CertctlAdminCore
import CertctlRuntime
import CertctlStore

/// `certctl-admin doctor`: the DR checklist's checks against the live
/// deployment, one line each; exit 1 when any check fails.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the deployment: schema, signer, CA expiry and key files, OCSP responders and CRLs per key generation.")

    func run() async throws {
        var failed = false
        try await AdminCLIContext.run(label: "certctl-admin doctor") { database, signer, logger in
            let doctor = Doctor(client: database.client, signer: signer, migrator: Migrator(migrations: try Migration.bundled()),
                                logger: logger)
            for check in await doctor.run() {
                print(check.line)
                failed = failed || check.level == .fail
            }
        }
        if failed { throw ExitCode(1) }
    }
}
