import CertctlConfig
import CertctlRPC
import CertctlRuntime

// certctl-enroll: SCEP and EST front ends that turn device requests into issuance.
await ServiceProcess.run(EnrollConfig.self) { context in
    context.logger.info("enrollment settings", metadata: [
        "config_encryption_key": "\(context.config.configEncryptionKey == nil ? "unset" : "set")",
    ])
    let signer = try SignerConnectionService.connect(to: context.config.signerAddress, identity: context.config.rpcIdentity)
    return ServiceParts(services: [signer])
}
