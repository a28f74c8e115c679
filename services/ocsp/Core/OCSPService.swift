import CertctlConfig
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Logging
import PostgresNIO

/// Assembles certctl-ocsp: the responder core, its routes and the loops that
/// keep its caches current (NOTIFY listener, revocation poller, refresh).
package enum OCSPService {
    package static func assemble(_ context: ServiceContext<OCSPConfig, PeerRequestContext>) throws -> ServiceParts {
        let config = context.config
        try PrivateFile.ensurePrivateDirectory(config.responderKeyDirectory, variable: Catalog.ocspResponderKeyDir.name)
        context.logger.info("OCSP settings", metadata: [
            "responder_key_dir": "\(config.responderKeyDirectory)",
            "rate_limit_per_ip_min": "\(config.rateLimitPerIPMinute)",
            "response_validity": "\(GoDuration.format(config.responseValidity))",
            "refresh_margin": "\(GoDuration.format(config.refreshMargin))",
            "full_sweep_interval": "\(GoDuration.format(config.fullSweepInterval))",
            "trusted_proxies": "\(config.trustedProxies.joined(separator: ","))",
        ])
        let signer = try SignerConnectionService.connect(to: config.signerAddress, identity: config.rpcIdentity)
        // on a hot standby: no LISTEN, no refresh loop, no writes (StandbyMode.swift, docs/scaling.md)
        let standby = StandbyState()
        let core = Self.core(config, client: context.database.client, signer: signer.connection.signing, logger: context.logger,
                             standby: standby)

        // cached answers stay valid until their nextUpdate: keep taking traffic while Postgres is away
        context.readiness.servesFromCacheWhileDatabaseIsDown()
        OCSPRoutes(core: core, limiter: RateLimiter(limitPerMinute: config.rateLimitPerIPMinute, maxSources: config.rateLimitMaxSources,
                                                                 ipv6Prefix: config.rateLimitIPv6Prefix),
                   clients: ClientAddress(trusted: IPMatcher(config.trustedProxies))).add(to: context.router)
        let refreshInterval = min(config.refreshMargin / 4, .seconds(60))
        return ServiceParts(services: [
            signer,
            RevocationListener(url: config.common.database, core: core, readiness: context.readiness, logger: context.logger),
            StandbyMonitor(client: context.database.client, role: standby.role, logger: context.logger),
            RevocationPoller(core: core, interval: .seconds(1), logger: context.logger),
            PrimaryOnly(inner: RefreshLoop(core: core, interval: refreshInterval, fullSweepInterval: config.fullSweepInterval, batch: 500,
                        logger: context.logger), role: standby.role),
            CacheGauge(cache: core.cache),
        ])
    }

    /// The responder core with its caches and this replica's responder keys.
    package static func core(_ config: OCSPConfig, client: DatabaseClient, signer: any SigningClient, logger: Logger,
                             standby: StandbyState = StandbyState()) -> OCSPResponderCore {
        let store = OCSPStore(client: client, logger: logger)
        let responders = ResponderManager(
            directory: config.responderKeyDirectory, store: OCSPResponderStore(client: client, logger: logger),
            signer: signer, validity: config.responderValidity, grace: config.responderRotationGrace, logger: logger,
            role: standby.role)
        return OCSPResponderCore(
            directory: IssuerDirectory(store: store), responders: responders, store: store,
            cache: ResponseCache(capacity: config.cacheMaxEntries), validity: config.responseValidity,
            margin: config.refreshMargin, logger: logger, standby: standby)
    }
}
