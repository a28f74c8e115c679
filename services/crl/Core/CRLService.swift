import CertctlConfig
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Hummingbird

/// Assembles certctl-crl: the generator (TBSCertList built here, signed by
/// certctl-signer: this process never holds a CA key), the publication routes
/// and the generation loop.
package enum CRLService {
    package static func assemble(_ context: ServiceContext<CRLConfig, BasicRequestContext>) throws -> ServiceParts {
        let config = context.config
        context.logger.info("CRL settings", metadata: [
            "generation_interval": "\(GoDuration.format(config.generationInterval))",
            "validity": "\(GoDuration.format(config.validity))",
            "revocation_debounce": "\(GoDuration.format(config.revocationDebounce))",
        ])
        let signer = try SignerConnectionService.connect(to: config.signerAddress, identity: config.rpcIdentity)
        let store = CRLStore(client: context.database.client, logger: context.logger)
        let generator = CRLGenerator(
            store: store, signer: signer.connection.signing, validity: config.validity,
            freshFor: config.generationInterval / 2, signerTimeout: .seconds(30), logger: context.logger)
        let publisher = CRLPublisher(store: store, generator: generator, logger: context.logger)
        CRLRoutes(publisher: publisher, store: store, maxAge: config.httpMaxAge).add(to: context.router)
        let loop = CRLGenerationLoop(
            generator: generator, publisher: publisher, store: store, database: config.common.database,
            interval: config.generationInterval, debounce: config.revocationDebounce, logger: context.logger)
        return ServiceParts(services: [signer, loop])
    }
}
