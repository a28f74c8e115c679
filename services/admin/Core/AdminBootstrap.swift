import CertctlConfig
import CertctlRuntime
import Hummingbird
import CertctlStore
import Logging
import ServiceLifecycle

/// Start-up work of the admin service: apply migrations (unless disabled),
/// store the bootstrap API key, create the bootstrap SCEP endpoint. An
/// unreachable database is retried with backoff; a failing migration stops
/// the process with the SQL error.
struct AdminBootstrap: Service {
    let config: AdminConfig
    let database: Database
    let logger: Logger

    init(context: ServiceContext<AdminConfig, BasicRequestContext>) {
        config = context.config
        database = context.database
        logger = context.logger
    }

    func run() async throws {
        if config.autoMigrate {
            let migrator = Migrator(migrations: try Migration.bundled())
            // MigrationError is not a connection failure: a failing migration ends the process.
            _ = try await retryWhileDatabaseUnavailable("migrating", logger: logger) {
                try await migrator.migrate(config.common.database, appliedBy: "certctl-admin", logger: logger)
            }
        }
        if let key = config.bootstrapAPIKey {
            let store = APIKeyStore(client: database.client, logger: logger)
            let outcome = try await retryWhileDatabaseUnavailable("storing the bootstrap API key", logger: logger) {
                try await store.ensureBootstrap(key: key, service: "admin")
            }
            let metadata: Logger.Metadata = ["key_prefix": "\(APIKeyStore.prefix(key))"]
            switch outcome {
            case .present: logger.info("bootstrap admin API key already present", metadata: metadata)
            case .created(let revoked):
                logger.info("stored bootstrap admin API key; revoked the \(revoked) bootstrap key(s) it replaces", metadata: metadata)
            case .revoked:
                logger.warning("CERTCTL_API_KEY names a key that was revoked; it stays revoked (set a new value to make a new bootstrap key)",
                               metadata: metadata)
            }
        }
        if let scep = config.scepBootstrap {
            await SCEPEndpointBootstrap.run(scep, store: EnrollmentSCEPStore(client: database.client, logger: logger), logger: logger)
        }
        try await gracefulShutdown()
    }
}
