import CertctlConfig
import CertctlObservability
import CertctlStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import Prometheus
import ServiceLifecycle

/// What a service's builder gets to assemble itself. `Context` is the
/// request context of its HTTP routes (the OCSP tier's keeps the client's address).
public struct ServiceContext<Config: ServiceConfig, Context: RequestContext> {
    public let config: Config
    public let database: Database
    public let readiness: ReadinessMonitor
    public let registry: PrometheusCollectorRegistry
    public let logger: Logger
    /// The HTTP router: request metrics and health routes are already on it.
    public let router: Router<Context>
    public var service: ServiceName { Config.service }

    public init(config: Config, database: Database, readiness: ReadinessMonitor, registry: PrometheusCollectorRegistry,
                logger: Logger, router: Router<Context>) {
        self.config = config
        self.database = database
        self.readiness = readiness
        self.registry = registry
        self.logger = logger
        self.router = router
    }
}

/// What a service adds to the common skeleton besides its routes:
/// background services (loops, listeners) that run until shutdown.
public struct ServiceParts: Sendable {
    public var services: [any Service]

    public init(services: [any Service] = []) {
        self.services = services
    }
}

/// The one way every executable starts: load config (refuse to start on a
/// bad value, exit 78), set up logging and metrics, build the service, run it
/// all under one `ServiceGroup` that drains on SIGTERM/SIGINT.
public enum ServiceProcess {
    public static func run<Config: ServiceConfig>(
        _ configType: Config.Type,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        build: @Sendable (ServiceContext<Config, BasicRequestContext>) async throws -> ServiceParts
    ) async -> Never {
        await run(configType, requestContext: BasicRequestContext.self, environment: environment, build: build)
    }

    /// As `run`, for routes that need their own request context.
    public static func run<Config: ServiceConfig, Context: RequestContext>(
        _ configType: Config.Type,
        requestContext: Context.Type,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        build: @Sendable (ServiceContext<Config, Context>) async throws -> ServiceParts
    ) async -> Never where Context.Source == ApplicationRequestContextSource {
        let config = loadOrExit(configType, environment: environment)
        let name = Config.service.executable
        LoggingSetup.bootstrap(level: config.common.logLevel, format: config.common.logFormat == .json ? .json : .text)
        let logger = Logger(label: name)
        let registry = MetricsSetup.bootstrap()

        let migrations: [Migration]
        do {
            migrations = try Migration.bundled()
        } catch {
            exitWith("\(name): \(error)", code: 70)
        }
        let database = Database(url: config.common.database, maximumConnections: config.common.databasePoolSize, logger: logger)
        let readiness = ReadinessMonitor(database: database, migrator: Migrator(migrations: migrations), logger: logger)
        let router = Router(context: Context.self)
        router.middlewares.add(RequestMetricsMiddleware())
        HealthRoutes.add(to: router, service: Config.service.rawValue, readiness: readiness, registry: registry)
        let context = ServiceContext(
            config: config, database: database, readiness: readiness, registry: registry, logger: logger, router: router)

        do {
            let parts = try await build(context)
            let server = try HardenedHTTPServer.builder(
                listener: Config.service.rawValue, limits: config.common.listenerLimits, tlsFiles: config.httpTLS)
            let app = Application(
                router: router, server: server,
                configuration: .init(
                    address: .hostname(config.httpListen.host, port: config.httpListen.port),
                    serverName: name, backlog: ListenerLimits.listenBacklog),
                logger: logger)
            logger.info("starting", metadata: [
                "listen": "\(config.httpTLS == nil ? "http" : "https")://\(config.httpListen)",
                "database": "\(config.common.database.redacted)",
            ])
            var groupConfiguration = ServiceGroupConfiguration(
                services: [.init(service: database), .init(service: readiness)]
                    + parts.services.map { .init(service: $0) }
                    + [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger)
            // SIGTERM always ends the process: a service still draining after 15 s is
            // cancelled, and one that ignores cancellation for 5 s more ends it with an
            // error (an OCSP replica once hung in shutdown after a Postgres outage).
            groupConfiguration.maximumGracefulShutdownDuration = .seconds(15)
            groupConfiguration.maximumCancellationDuration = .seconds(5)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            logger.info("stopped")
            exit(0)
        } catch let error as ConfigError {
            exitWith("\(name): \(error)", code: ConfigError.exitCode)
        } catch {
            let text = DatabaseErrorText.describe(error)
            logger.critical("exiting on error", metadata: ["error": "\(text)"])
            exitWith("\(name): \(text)", code: 1)
        }
    }

    /// Loads the configuration or ends the process with one line naming the variable.
    public static func loadOrExit<Config: ServiceConfig>(
        _ configType: Config.Type, environment: [String: String]
    ) -> Config {
        do {
            return try Config(Environment(environment))
        } catch {
            exitWith("\(Config.service.executable): \(error)", code: ConfigError.exitCode)
        }
    }

    public static func exitWith(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}
