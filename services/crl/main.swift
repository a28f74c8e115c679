import CertctlConfig
import CertctlRuntime

// certctl-crl: CRL generation loop and publication.
await ServiceProcess.run(CRLConfig.self) { context in
    context.logger.info("CRL settings", metadata: [
        "generation_interval": "\(GoDuration.format(context.config.generationInterval))",
    ])
    return ServiceParts()
}
