import CertctlConfig
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Hummingbird

// certctl-ocsp: the horizontally scaled OCSP responder tier.
await ServiceProcess.run(OCSPConfig.self) { context in
    let config = context.config
    try PrivateFile.ensurePrivateDirectory(config.responderKeyDirectory, variable: Catalog.ocspResponderKeyDir.name)
    context.logger.info("OCSP settings", metadata: [
        "responder_key_dir": "\(config.responderKeyDirectory)",
        "rate_limit_per_ip_min": "\(config.rateLimitPerIPMinute)",
        "response_validity": "\(GoDuration.format(config.responseValidity))",
        "refresh_margin": "\(GoDuration.format(config.refreshMargin))",
        "trusted_proxies": "\(config.trustedProxies.joined(separator: ","))",
    ])
    let signer = try SignerConnectionService.connect(to: config.signerAddress, identity: config.rpcIdentity)
    let client = context.database.client
    let store = OCSPStore(client: client, logger: context.logger)
    let responders = ResponderManager(
        directory: config.responderKeyDirectory, store: OCSPResponderStore(client: client, logger: context.logger),
        signer: signer.connection.signer, validity: config.responderValidity, grace: config.responderRotationGrace,
        logger: context.logger)
    let core = OCSPResponderCore(
        directory: IssuerDirectory(store: store), responders: responders, store: store,
        cache: ResponseCache(capacity: config.cacheMaxEntries), validity: config.responseValidity,
        margin: config.refreshMargin, logger: context.logger)

    // cached answers stay valid until their nextUpdate: keep taking traffic while Postgres is away
    context.readiness.servesFromCacheWhileDatabaseIsDown()
    let router = Router(context: OCSPRequestContext.self)
    router.middlewares.add(MetricsMiddleware())
    HealthRoutes.add(to: router, service: OCSPConfig.service.rawValue, readiness: context.readiness, registry: context.registry)
    OCSPRoutes(core: core, limiter: RateLimiter(limitPerMinute: config.rateLimitPerIPMinute),
               clients: ClientAddress(trusted: IPMatcher(config.trustedProxies))).add(to: router)
    let http = Application(
        router: router,
        configuration: .init(address: .hostname(config.httpListen.host, port: config.httpListen.port),
                             serverName: OCSPConfig.service.executable),
        logger: context.logger)
    let refreshInterval = min(config.refreshMargin / 4, .seconds(60))
    return ServiceParts(services: [
        signer,
        RevocationListener(url: config.common.database, core: core, readiness: context.readiness, logger: context.logger),
        RevocationPoller(core: core, interval: .seconds(1), logger: context.logger),
        RefreshLoop(core: core, interval: refreshInterval, batch: 500, logger: context.logger),
        CacheGauge(cache: core.cache),
    ], http: http)
}
