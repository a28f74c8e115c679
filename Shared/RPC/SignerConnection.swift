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
    /// The raw generated client (tests that play a hostile caller use it).
    public let rpc: SignerRPC.Client<HTTP2ClientTransport.Posix>
    /// What services call.
    public let signing: GRPCSigningClient

    public init(address: ListenAddress, tls: RPCTLSFiles) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: Self.target(address),
            transportSecurity: tls.clientSecurity,
            config: .defaults { $0.backoff = Self.backoff })
        client = GRPCClient(transport: transport)
        rpc = SignerRPC.Client(wrapping: client)
        signing = GRPCSigningClient(rpc)
    }

    /// An IP literal is dialled as it is; a name (compose's `certctl-signer`) is resolved by DNS.
    static func target(_ address: ListenAddress) -> any ResolvableTarget {
        if address.host.contains(":") { return .ipv6(address: address.host, port: address.port) }
        let octets = address.host.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) { return .ipv4(address: address.host, port: address.port) }
        return .dns(host: address.host, port: address.port)
    }

    /// Reconnect attempts while the signer is away: gRPC's default backoff
    /// grows to two minutes, so a signer back after a long outage would wait
    /// that long for callers that do not wait for ready (CRL signing,
    /// issuance's first attempt); capped at 1 s so that issuance resumes within
    /// about a second of the signer's return (scripts/drills/signer-kill).
    static let backoff = HTTP2ClientTransport.Config.Backoff(initial: .milliseconds(250), max: .seconds(1), multiplier: 1.6,
                                                             jitter: 0.2)

    public func run() async throws {
        try await client.runConnections()
    }

    public func close() {
        client.beginGracefulShutdown()
    }
}
