import CertctlConfig
import CertctlOCSPCore
import CertctlRuntime

// certctl-ocsp: the horizontally scaled OCSP responder tier.
await ServiceProcess.run(OCSPConfig.self, requestContext: PeerRequestContext.self) { try OCSPService.assemble($0) }
