import CertctlCRLCore
import CertctlConfig
import CertctlRuntime

// certctl-crl: CRL generation loop and publication.
await ServiceProcess.run(CRLConfig.self) { try CRLService.assemble($0) }
