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
        let service = SignerRPCService(
            keyring: keyring, signer: FileKeySigner(keys: keyring.keys), issuers: issuers,
            certificates: CertificateRecordStore(client: database.client, logger: logger),
            database: database, logger: logger)
        let tls = RPCTLSFiles(config.rpcIdentity)
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: config.rpcListen.host, port: config.rpcListen.port),
                transportSecurity: tls.serverSecurity,
                config: Self.transportConfig),
            services: [service])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
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
    /// CRLs with many entries arrive as one message (about 40 bytes per
    /// entry); gRPC's default 4 MiB cap would refuse them. Only callers with
    /// a service identity reach this listener.
    static let transportConfig: HTTP2ServerTransport.Posix.Config = {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = 256 << 20
        return config
    }()
}
