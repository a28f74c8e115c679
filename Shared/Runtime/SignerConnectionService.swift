import CertctlConfig
import CertctlRPC
import ServiceLifecycle

/// Keeps the gRPC connection to certctl-signer for the life of the process.
public struct SignerConnectionService: Service {
    public let connection: SignerConnection

    public init(connection: SignerConnection) {
        self.connection = connection
    }

    /// Checks the identity files (refusing to start, naming the variable)
    /// and opens a connection to the signer at `address`.
    public static func connect(to address: ListenAddress, identity: RPCIdentityPaths) throws -> SignerConnectionService {
        try identity.checkFiles()
        return SignerConnectionService(connection: try SignerConnection(address: address, tls: RPCTLSFiles(identity)))
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await connection.run()
        } onGracefulShutdown: {
            connection.close()
        }
    }
}
