import CertctlConfig
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging

public typealias SignerRPC = Certctl_Signer_V1_Signer

/// A connection to certctl-signer over gRPC with mutual TLS.
/// `run()` owns the connections (run it as a service); calls made before the
/// signer is reachable wait for it or fail with `unavailable`.
public final class SignerConnection: Sendable {
    public let client: GRPCClient<HTTP2ClientTransport.Posix>
    public let signer: SignerRPC.Client<HTTP2ClientTransport.Posix>

    public init(address: ListenAddress, tls: RPCTLSFiles) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: address.host, port: address.port),
            transportSecurity: tls.clientSecurity)
        client = GRPCClient(transport: transport)
        signer = SignerRPC.Client(wrapping: client)
    }

    public func run() async throws {
        try await client.runConnections()
    }

    public func close() {
        client.beginGracefulShutdown()
    }
}
