import CertctlConfig
import CertctlRPC
import CertctlRuntime
import CertctlStore
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// Registers the issuers (retrying while the database is unreachable), then
/// serves the signer's gRPC API over mutual TLS until shutdown.
struct SignerRPCServer: Service {
    let defaultCA: LoadedCA
    let config: SignerConfig
    let database: Database
    let readiness: ReadinessMonitor
    let logger: Logger

    static let gate = "signer RPC listener"

    func run() async throws {
        let issuers = IssuerStore(client: database.client, logger: logger)
        // The schema must be current (certctl-admin migrates) before issuers can be registered.
        while !readiness.databaseReady {
            try await Task.sleep(for: .milliseconds(200))
        }
        let keyring = try await retryWhileDatabaseUnavailable(
            "registering issuers", logger: logger, maximumDelay: .seconds(5), isRetryable: DatabaseErrorText.isDatabaseFailure
        ) {
            try await IssuerKeyring.assemble(defaultCA: defaultCA, store: issuers, logger: logger)
        }
        // Nothing is signed before this machine's clock has been compared with the database's.
        let clock = ClockSkewGuard(database: database, bound: config.maxClockSkew, readiness: readiness, logger: logger)
        try await retryWhileDatabaseUnavailable(
            "comparing the clock with the database's", logger: logger, maximumDelay: .seconds(5),
            isRetryable: DatabaseErrorText.isDatabaseFailure
        ) { try await clock.measure() }
        let lifecycle = GenerationLifecycle(
            store: IssuerGenerationStore(client: database.client, logger: logger), keyring: keyring,
            grace: config.archiveGrace, interval: .seconds(5), logger: logger)
        let service = SignerRPCService(
            keyring: keyring, signer: FileKeySigner(keyring: keyring), store: SignerStore(client: database.client, logger: logger),
            issuerStore: issuers, generations: lifecycle.store, rotation: KeyRotation(keyDirectory: config.keyDir),
            lifecycle: lifecycle, database: database, crlRules: CRLRules(maxValidity: config.crlMaxValidity), clock: clock, logger: logger)
        let tls = RPCTLSFiles(config.rpcIdentity)
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: config.rpcListen.host, port: config.rpcListen.port),
                transportSecurity: tls.serverSecurity,
                config: Self.transportConfig),
            services: [service])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            group.addTask { try await lifecycle.run() }
            group.addTask { try await clock.run() }
            if let address = try await server.listeningAddress {
                logger.info("serving signer RPC (mutual TLS)", metadata: ["listen": "\(address)"])
                readiness.open(Self.gate)
            }
            try await gracefulShutdown()
            server.beginGracefulShutdown()
        }
    }
}

extension SignerRPCServer {
    /// No message is larger than one SignCRLStream piece (1 MiB) plus its
    /// framing: a caller cannot make the signer buffer more per message before
    /// its method refuses it (a TBSCertificate is capped at 16 KiB, a whole
    /// streamed CRL at 256 MiB, both for authorised callers only).
    static let transportConfig: HTTP2ServerTransport.Posix.Config = {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = GRPCSigningClient.crlPieceBytes + (64 << 10)
        return config
    }()
}
