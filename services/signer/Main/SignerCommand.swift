import ArgumentParser
import CertctlConfig
import CertctlRuntime
import CertctlSignerCore

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
        await ServiceProcess.run(SignerConfig.self) { try SignerService.assemble($0) }
    }
}
