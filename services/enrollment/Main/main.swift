import CertctlConfig
import CertctlEnrollCore
import CertctlRuntime

// certctl-enroll: SCEP and EST front ends that turn device requests into issuance.
await ServiceProcess.run(EnrollConfig.self, requestContext: PeerRequestContext.self) { try EnrollService.assemble($0) }
