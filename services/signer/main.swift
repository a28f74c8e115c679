import CertctlConfig
import CertctlRuntime

// certctl-signer: the only process that opens a CA private key. Its HTTP port
// (health and metrics) binds loopback only; signing is reached over internal RPC.
await ServiceProcess.run(SignerConfig.self) { context in
    try PrivateFile.checkReadable(context.config.caCertPath, variable: Catalog.caCertPath.name)
    try PrivateFile.checkOwnerOnly(context.config.caKeyPath, variable: Catalog.caKeyPath.name)
    return ServiceParts()
}
