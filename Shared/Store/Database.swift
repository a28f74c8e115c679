import CertctlConfig
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The process's pooled Postgres client. Run it as a `Service`; queries made
/// before the server is reachable wait for a connection or time out.
public final class Database: Service, Sendable {
    public let client: DatabaseClient
    public let url: DatabaseURL
    let logger: Logger

    public init(url: DatabaseURL, maximumConnections: Int = 10, logger: Logger) {
        self.url = url
        self.logger = logger
        var configuration = Self.clientConfiguration(url)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let settings = configuration
        self.client = DatabaseClient { PostgresClient(configuration: settings, backgroundLogger: logger) }
    }

    /// Runs the pool, and each pool that replaces it (`DatabaseClient.renew`).
    public func run() async {
        let pools = client.started
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await pool in pools {
                    group.addTask { await pool.run() }
                }
            }
        }
    }

    /// One connection outside the pool, `SELECT 1`, closed again: whether the
    /// server accepts connections now, whatever the pool's state.
    public func probe(timeout: Duration = .seconds(2)) async throws {
        let url = self.url
        let logger = self.logger
        try await withTimeout(timeout) {
            let connection = try await PostgresConnection.connect(
                configuration: try Self.connectionConfiguration(url), id: 0, logger: logger)
            do {
                try await connection.query("SELECT 1", logger: logger)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    /// A configuration for a single connection outside the pool (LISTEN, the
    /// migration lock), which must not occupy a pooled slot indefinitely.
    public static func connectionConfiguration(_ url: DatabaseURL) throws -> PostgresConnection.Configuration {
        if let socketDirectory = url.socketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(url.port)",
                username: url.username, password: url.password, database: url.database)
        }
        return PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password,
            database: url.database, tls: try connectionTLS(url))
    }

    static func clientConfiguration(_ url: DatabaseURL) -> PostgresClient.Configuration {
        if let socketDirectory = url.socketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(url.port)",
                username: url.username, password: url.password, database: url.database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch url.tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(tlsConfiguration(url))
        case .require: tls = .require(tlsConfiguration(url))
        }
        return PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password,
            database: url.database, tls: tls)
    }

    private static func connectionTLS(_ url: DatabaseURL) throws -> PostgresConnection.Configuration.TLS {
        switch url.tlsMode {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: tlsConfiguration(url)))
        case .require: return .require(try NIOSSLContext(configuration: tlsConfiguration(url)))
        }
    }

    /// Full verification of the server's certificate and name, against `sslrootcert` when the URL names one.
    static func tlsConfiguration(_ url: DatabaseURL) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let path = url.rootCertificatePath { configuration.trustRoots = .file(path) }
        return configuration
    }
}
