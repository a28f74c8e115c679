import CertctlConfig
import CertctlIssuance
import Foundation
import CertctlRPC
import CertctlRuntime
import Hummingbird
import CertctlStore
import Logging
import ServiceLifecycle

/// The REST API under /api/v1 and the services it needs.
package enum AdminAPI {
    /// Builds the REST API on `context.router` and returns the services it needs running.
    static func install(_ context: ServiceContext<AdminConfig, BasicRequestContext>) throws -> [any Service] {
        let config = context.config
        let signerService = try SignerConnectionService.connect(to: config.signerAddress, identity: config.rpcIdentity)
        try addRoutes(
            to: context.router, database: context.database, signing: signerService.connection.signing,
            urls: PublicationURLs(ocspBase: config.ocspBaseURL, crlBase: config.crlBaseURL),
            exportLimitPerHour: config.certExportRateLimitPerActorHour, logger: context.logger)
        Console.addRoutes(
            to: context.router, database: context.database, signing: signerService.connection.signing,
            urls: PublicationURLs(ocspBase: config.ocspBaseURL, crlBase: config.crlBaseURL),
            exportLimitPerHour: config.certExportRateLimitPerActorHour,
            options: ConsoleOptions(secureCookies: config.httpTLS != nil), logger: context.logger)
        return [
            signerService,
            PendingReaper(certificates: CertificateRecordStore(client: context.database.client, logger: context.logger),
                          timeout: config.pendingIssuanceTimeout, logger: context.logger),
            GenerationGauges(store: IssuerGenerationStore(client: context.database.client, logger: context.logger),
                             logger: context.logger),
            AuditSealer(chain: AuditChain(client: context.database.client, logger: context.logger),
                        headExportInterval: config.auditHeadExportInterval, logger: context.logger),
        ]
    }

    /// Every /api/v1 route, on `database` (which the caller runs) and `signing`. `install` uses it
    /// for the process; tests use it to exercise the routes in-process (HummingbirdTesting).
    package static func addRoutes(
        to router: Router<BasicRequestContext>, database: Database, signing: any SigningClient & KeyGenerationClient,
        urls: PublicationURLs, exportLimitPerHour: Int,
        logger: Logger
    ) throws {
        let document = try OpenAPIRoute.document()
        router.add(middleware: APIRequestChecks(routes: APIRouteTable(openAPI: String(decoding: document, as: UTF8.self)), logger: logger))
        let client = database.client
        let support = APISupport(keys: APIKeyStore(client: client, logger: logger))
        let issuers = IssuerStore(client: client, logger: logger)
        let issuance = IssuanceService(database: database, signer: signing, urls: urls, logger: logger)
        let generations = IssuerGenerationStore(client: client, logger: logger)
        CertificateRoutes(
            support: support,
            issuance: issuance,
            certificates: CertificateRecordStore(client: client, logger: logger),
            revocations: RevocationStore(client: client, logger: logger), issuers: issuers, generations: generations
        ).add(to: router)
        CertificateExportRoutes(
            support: support, certificates: CertificateRecordStore(client: client, logger: logger), generations: generations,
            limiter: ExportRateLimiter(client: client, limitPerHour: exportLimitPerHour, logger: logger),
            audit: AuditLog(client: client, logger: logger)
        ).add(to: router)
        BulkRevocationRoutes(support: support, certificates: CertificateRecordStore(client: client, logger: logger),
                             revocations: RevocationStore(client: client, logger: logger), logger: logger).add(to: router)
        IssuerRoutes(support: support, issuers: issuers, generations: generations,
                     operations: IssuerOperations(signer: signing, issuers: issuers, generations: generations), urls: urls)
            .add(to: router)
        ProfileRoutes(support: support, profiles: ProfileStore(client: client, logger: logger)).add(to: router)
        AuditRoutes(support: support, client: client, chain: AuditChain(client: client, logger: logger), logger: logger)
            .add(to: router)
        APIKeyRoutes(support: support, keys: support.keys).add(to: router)
        SCEPAdminRoutes(support: support, store: EnrollmentSCEPStore(client: client, logger: logger)).add(to: router)
        ESTAdminRoutes(support: support, store: EnrollmentESTStore(client: client, logger: logger)).add(to: router)
        TrustAnchorRoutes(support: support, store: TrustAnchorStore(client: client, logger: logger)).add(to: router)
        EnrollmentRequestRoutes(support: support, issuance: issuance, store: EnrollmentRequestStore(client: client, logger: logger))
            .add(to: router)
        OpenAPIRoute.add(to: router, document: document)
    }
}
