import CertctlConfig
import CertctlRPC
import CertctlRuntime

// certctl-crl: CRL generation loop and publication.
await ServiceProcess.run(CRLConfig.self) { context in
    context.logger.info("CRL settings", metadata: [
        "generation_interval": "\(GoDuration.format(context.config.generationInterval))",
    ])
    let signer = try SignerConnectionService.connect(to: context.config.signerAddress, identity: context.config.rpcIdentity)
    return ServiceParts(services: [signer])
}
