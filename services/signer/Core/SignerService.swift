import CertctlConfig
import CertctlRuntime
import Hummingbird

/// Assembles certctl-signer from its configuration: the CA key is loaded and
/// checked (refusing to start, naming the file) before anything is served.
package enum SignerService {
    package static func assemble(_ context: ServiceContext<SignerConfig, BasicRequestContext>) throws -> ServiceParts {
        let config = context.config
        let ca = try CAKeyLoader.load(certificatePath: config.caCertPath, keyPath: config.caKeyPath)
        try config.rpcIdentity.checkFiles()
        try ServiceIdentityCA.checkSeparate(from: ca, identityCAPath: config.rpcIdentity.caPath)
        context.readiness.close(SignerRPCServer.gate)
        return ServiceParts(services: [
            SignerRPCServer(defaultCA: ca, config: config, database: context.database,
                            readiness: context.readiness, logger: context.logger),
        ])
    }
}
