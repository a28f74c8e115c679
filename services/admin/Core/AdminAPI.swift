import CertctlConfig
import CertctlIssuance
import CertctlRPC
import CertctlRuntime
import Hummingbird
import CertctlStore
import Logging
import ServiceLifecycle

/// The REST API under /api/v1 and the services it needs.
enum AdminAPI {
    /// Builds the REST API on `context.router` and returns the services it needs running.
    static func install(_ context: ServiceContext<AdminConfig, BasicRequestContext>) throws -> [any Service] {
        let config = context.config
        let client = context.database.client
        let logger = context.logger
        let signerService = try SignerConnectionService.connect(to: config.signerAddress, identity: config.rpcIdentity)
        let connection = signerService.connection
        let urls = PublicationURLs(ocspBase: config.ocspBaseURL, crlBase: config.crlBaseURL)
        let support = APISupport(keys: APIKeyStore(client: client, logger: logger))
        let certificates = CertificateRecordStore(client: client, logger: logger)
        let issuers = IssuerStore(client: client, logger: logger)
        let issuance = IssuanceService(database: context.database, signer: connection.signing, urls: urls, logger: logger)
        CertificateRoutes(
            support: support,
            issuance: issuance,
            certificates: certificates, revocations: RevocationStore(client: client, logger: logger), issuers: issuers
        ).add(to: context.router)
        IssuerRoutes(support: support, issuers: issuers, urls: urls).add(to: context.router)
        ProfileRoutes(support: support, profiles: ProfileStore(client: client, logger: logger)).add(to: context.router)
        AuditRoutes(support: support, client: client, logger: logger).add(to: context.router)
        SCEPAdminRoutes(support: support, store: EnrollmentSCEPStore(client: client, logger: logger)).add(to: context.router)
        ESTAdminRoutes(support: support, store: EnrollmentESTStore(client: client, logger: logger)).add(to: context.router)
        TrustAnchorRoutes(support: support, store: TrustAnchorStore(client: client, logger: logger)).add(to: context.router)
        EnrollmentRequestRoutes(support: support, issuance: issuance, store: EnrollmentRequestStore(client: client, logger: logger))
            .add(to: context.router)
        try OpenAPIRoute.add(to: context.router)
        return [
            signerService,
            PendingReaper(certificates: certificates, timeout: config.pendingIssuanceTimeout, logger: logger),
        ]
    }
}
