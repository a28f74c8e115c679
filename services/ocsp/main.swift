import CertctlConfig
import CertctlRPC
import CertctlRuntime

// certctl-ocsp: the horizontally scaled OCSP responder tier.
await ServiceProcess.run(OCSPConfig.self) { context in
    try PrivateFile.ensurePrivateDirectory(
        context.config.responderKeyDirectory, variable: Catalog.ocspResponderKeyDir.name)
    context.logger.info("OCSP settings", metadata: [
        "responder_key_dir": "\(context.config.responderKeyDirectory)",
        "rate_limit_per_ip_min": "\(context.config.rateLimitPerIPMinute)",
    ])
    let signer = try SignerConnectionService.connect(to: context.config.signerAddress, identity: context.config.rpcIdentity)
    return ServiceParts(services: [signer])
}
