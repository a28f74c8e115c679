import CertctlConfig
import CertctlObservability
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Foundation
import Logging

/// What the admin host's commands (`issuer`, `doctor`) run with: admin's
/// database URL and its signer identity, read from the same CERTCTL_*
/// variables as the service. A bad variable ends the process (exit 78).
enum AdminCLIContext {
    /// For commands that need the database only (`audit`): admin's CERTCTL_DATABASE_URL and logging.
    static func runDatabase(label: String, _ body: (Database, Logger) async throws -> Void) async throws {
        let common: CommonConfig
        do {
            common = try CommonConfig(Environment(ProcessInfo.processInfo.environment))
        } catch {
            ServiceProcess.exitWith("\(label): \(error)", code: ConfigError.exitCode)
        }
        LoggingSetup.bootstrap(level: common.logLevel, format: common.logFormat == .json ? .json : .text)
        let logger = Logger(label: label.replacingOccurrences(of: " ", with: "."))
        let database = Database(url: common.database, maximumConnections: 2, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            try await body(database, logger)
        }
    }

    static func run(label: String, _ body: (Database, GRPCSigningClient, Logger) async throws -> Void) async throws {
        let environment = Environment(ProcessInfo.processInfo.environment)
        let common: CommonConfig, address: ListenAddress, identity: RPCIdentityPaths
        do {
            common = try CommonConfig(environment)
            address = try environment.read(Catalog.signerAddress)
            identity = try RPCIdentityPaths(environment)
        } catch {
            ServiceProcess.exitWith("\(label): \(error)", code: ConfigError.exitCode)
        }
        LoggingSetup.bootstrap(level: common.logLevel, format: common.logFormat == .json ? .json : .text)
        let logger = Logger(label: label.replacingOccurrences(of: " ", with: "."))
        let database = Database(url: common.database, maximumConnections: 2, logger: logger)
        let connection = try SignerConnection(address: address, tls: RPCTLSFiles(identity))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            group.addTask { try await connection.run() }
            defer { group.cancelAll(); connection.close() }
            try await body(database, connection.signing, logger)
        }
    }
}
