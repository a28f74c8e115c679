import CertctlConfig
import CertctlRuntime
import Hummingbird

/// Assembles certctl-admin: migrations and the bootstrap key at start, then the REST API.
package enum AdminService {
    package static func assemble(_ context: ServiceContext<AdminConfig, BasicRequestContext>) throws -> ServiceParts {
        ServiceParts(services: [AdminBootstrap(context: context)] + (try AdminAPI.install(context)))
    }
}
