import CertctlConfig
import HTTPTypes
import Hummingbird
import NIOCore

/// Request context that keeps the TCP peer address: for per-client limits and
/// for the client address audit rows name (OCSP, enroll).
public struct PeerRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Which address a request comes from: the TCP peer, or, when the peer is a
/// trusted proxy, the right-most X-Forwarded-For entry that is not. Anyone
/// else's X-Forwarded-For is ignored: a client cannot choose its address.
public struct ClientAddress: Sendable {
    let trusted: IPMatcher

    public init(trusted: IPMatcher) {
        self.trusted = trusted
    }

    public func resolve(peer: String?, forwardedFor: [String]) -> String {
        guard let peer else { return "unknown" }
        guard !trusted.isEmpty, trusted.contains(peer), !forwardedFor.isEmpty else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !trusted.contains(hop) {
            return IPMatcher.parse(hop) != nil ? hop : peer
        }
        return hops.first.flatMap { IPMatcher.parse($0) != nil ? $0 : nil } ?? peer
    }

    /// The client of `request` on a connection from `context`'s peer.
    public func resolve(_ request: Request, _ context: PeerRequestContext) -> String {
        resolve(peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!])
    }
}
