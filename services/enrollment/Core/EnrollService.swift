import CertctlConfig
import CertctlIssuance
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Hummingbird
import ServiceLifecycle

/// Assembles certctl-enroll: SCEP on the plain HTTP listener, EST on its own
/// TLS listener (when configured), trust bundles and their reloader.
package enum EnrollService {
    package static func assemble(_ context: ServiceContext<EnrollConfig, PeerRequestContext>) throws -> ServiceParts {
        context.logger.info("enrollment settings", metadata: [
            "config_encryption_key": "\(context.config.configEncryptionKey == nil ? "unset" : "set")",
        ])
        let signer = try SignerConnectionService.connect(to: context.config.signerAddress, identity: context.config.rpcIdentity)
        let client = context.database.client
        let scepStore = EnrollmentSCEPStore(client: client, logger: context.logger)
        let approvals = EnrollmentRequestStore(client: client, logger: context.logger)
        let audit = AuditLog(client: client, logger: context.logger)
        // SCEP, EST and TLS refusals: counted, and audited per source and minute (flushed by its own service)
        let refusals = RefusalAggregator(service: "enroll", metric: "certctl_enroll_refusals_total", audit: audit,
                                          window: context.config.refusalAuditWindow, logger: context.logger)
        let metrics = EnrollMetrics(refusals: refusals)
        // Issued certificates point at OCSP/CRL URLs stored with the issuer by admin; enrollment reuses admin's defaults.
        let issuance = IssuanceService(database: context.database, signer: signer.connection.signing,
                                       urls: PublicationURLs(ocspBase: context.config.ocspBaseURL, crlBase: context.config.crlBaseURL),
                                       logger: context.logger)
        // Trust bundles (EST mTLS, SCEP signed-challenge connectors): loaded at start, reloaded on SIGHUP and on the admin API's NOTIFY.
        let holder = TrustAnchorHolder()
        let responder = SCEPResponder(store: scepStore, issuers: IssuerStore(client: client, logger: context.logger),
                                      raKeys: SCEPRAKeyCache(), issuance: issuance,
                                      certificates: CertificateRecordStore(client: client, logger: context.logger),
                                      trustAnchors: holder, approvals: approvals, audit: audit, metrics: metrics,
                                      logger: context.logger, allowSingleDES: context.config.scepAllowSingleDES,
                                      challengeThrottle: ChallengeThrottle(perSource: context.config.scepChallengeFailuresPerSource,
                                                                           perEndpoint: context.config.scepChallengeFailuresPerEndpoint))
        SCEPRoutes(responder: responder, clients: ClientAddress(trusted: IPMatcher(context.config.trustedProxies)))
            .add(to: context.router)
        var services: [any Service] = [signer, refusals]
        services.append(TrustAnchorReloader(
            holder: holder, store: TrustAnchorStore(client: client, logger: context.logger), databaseURL: context.database.url,
            replica: TrustAnchorReloader.replicaName(), logger: context.logger))
        if let est = context.config.est {
            let routes = ESTRoutes(
                labels: EnrollmentESTStore(client: client, logger: context.logger),
                profiles: ProfileStore(client: client, logger: context.logger), issuers: IssuerStore(client: client, logger: context.logger),
                certificates: CertificateRecordStore(client: client, logger: context.logger), issuance: issuance, holder: holder,
                audit: audit, approvals: approvals, metrics: metrics, logger: context.logger)
            services.append(try ESTServer.make(
                listen: est.listen, certPath: est.certPath, keyPath: est.keyPath, routes: routes, holder: holder,
                issuerRoots: IssuerRoots(issuers: IssuerStore(client: client, logger: context.logger)),
                limits: context.config.common.listenerLimits, logger: context.logger))
        }
        if let bootstrap = context.config.scepBootstrap {
            // certctl-admin creates the endpoint (policy is admin's); its RA files are this process's:
            // refuse to start (exit 78) when they are missing or the key is readable by others.
            try PrivateFile.checkReadable(bootstrap.raCertPath, variable: Catalog.scepBootstrapRACert.name)
            try PrivateFile.checkOwnerOnly(bootstrap.raKeyPath, variable: Catalog.scepBootstrapRAKey.name)
        }
        return ServiceParts(services: services)
    }
}
