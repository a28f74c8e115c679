import CertctlConfig
import CertctlRuntime
import CertctlStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Start-up work of the admin service: apply migrations (unless disabled)
/// and store the bootstrap API key. An unreachable database is retried with
/// backoff; a failing migration stops the process with the SQL error.
struct AdminBootstrap: Service {
    let config: AdminConfig
    let database: Database
    let logger: Logger

    init(context: ServiceContext<AdminConfig>) {
        config = context.config
        database = context.database
        logger = context.logger
    }

    func run() async throws {
        if config.autoMigrate {
            let migrator = Migrator(migrations: try Migration.bundled())
            _ = try await withDatabaseRetry(logger: logger) {
                try await migrator.migrate(config.common.database, appliedBy: "certctl-admin", logger: logger)
            }
        }
        if let key = config.bootstrapAPIKey {
            let store = APIKeyStore(client: database.client, logger: logger)
            let created = try await withDatabaseRetry(logger: logger) {
                try await store.ensure(key: key, role: .admin, actor: "bootstrap", service: "admin")
            }
            logger.info(created ? "stored bootstrap admin API key" : "bootstrap admin API key already present",
                        metadata: ["key_prefix": "\(APIKeyStore.prefix(key))"])
        }
        try await gracefulShutdown()
    }

    /// Retries `operation` while the database cannot be reached; any other
    /// error (a failed migration, a schema problem) is final.
    private func withDatabaseRetry<T: Sendable>(
        logger: Logger, _ operation: @Sendable () async throws -> T
    ) async throws -> T {
        var delay = Duration.milliseconds(250)
        while true {
            do {
                return try await operation()
            } catch let error as MigrationError {
                throw error
            } catch where Self.isUnreachable(error) && !Task.isCancelledOrShuttingDown {
                logger.warning("database unreachable; retrying", metadata: [
                    "database": "\(config.common.database.redacted)",
                    "error": "\(DatabaseErrorText.describe(error))", "retry_in": "\(delay)",
                ])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    /// Connection-level failures (refused, timed out, database missing, auth
    /// not yet configured) are worth retrying; SQL errors are not.
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else { return error is TimeoutError }
        if psql.code == .server {
            // 3D000 invalid_catalog_name, 57P03 cannot_connect_now, 28xxx auth
            let state = psql.serverInfo?[.sqlState] ?? ""
            return state == "3D000" || state == "57P03" || state.hasPrefix("28") || state.hasPrefix("08")
        }
        return true
    }
}
