import ArgumentParser
import CertctlConfig
import CertctlPKI
import CertctlRuntime
import Foundation

@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certctl-signer",
        abstract: "certctl signer: the only process that opens CA private keys.",
        subcommands: [Serve.self, InitCA.self, SubCACSR.self],
        defaultSubcommand: Serve.self)
}

/// Serves the signer RPC (the default).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the internal signing RPC (default).")

    func run() async throws {
        await ServiceProcess.run(SignerConfig.self) { context in
            let config = context.config
            // Refuse to start (exit 78, naming the file) before serving anything.
            let ca = try CAKeyLoader.load(certificatePath: config.caCertPath, keyPath: config.caKeyPath)
            try config.rpcIdentity.checkFiles()
            context.readiness.close(SignerRPCServer.gate)
            return ServiceParts(services: [
                SignerRPCServer(defaultCA: ca, config: config, database: context.database,
                                readiness: context.readiness, logger: context.logger),
            ])
        }
    }
}
