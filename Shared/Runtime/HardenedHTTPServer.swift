import CertctlConfig
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import NIOSSL

/// The HTTP/1 server of every certctl listener: Hummingbird's `HTTP1Channel`
/// with the listener limits (`ListenerLimits`) in front of it, and TLS when
/// configured. Hummingbird 2.28 offers only an idle timeout, so the pipeline of
/// each accepted connection is assembled here:
///
///     [NIOSSLServerHandler] → ConnectionGuardHandler → HTTP/1 codec →
///     RequestDeadlineHandler → HTTPConnectionStateHandler → NIOAsyncChannel
///
/// and the connection cap is checked before any of it is built.
public enum HardenedHTTPServer {
    /// A TLS client-certificate check that also sees the connection's peer address
    /// (NIOSSL's own callback does not), e.g. to aggregate refusals per source.
    public typealias PeerVerification = @Sendable ([NIOSSLCertificate], SocketAddress?) async -> NIOSSLVerificationResult

    /// `listener` labels the metrics (`certctl_http_connections_open{listener}` …), made
    /// by `metrics` (the process's Prometheus registry unless a test passes its own).
    /// `tls` nil: plain HTTP.
    /// `peerVerification`, when given, checks client certificates instead of `tls`'s callback.
    public static func builder(listener: String, limits: ListenerLimits, tls: TLSChannelConfiguration? = nil,
                               peerVerification: PeerVerification? = nil,
                               metrics: any MetricsFactory = MetricsSystem.factory) throws -> HTTPServerBuilder {
        let context = try tls.map { try NIOSSLContext(configuration: $0.tlsConfiguration) }
        let channel = LimitedChildChannel.Shared(
            limits: limits, cap: ConnectionCap(maximum: limits.maxConnections),
            metrics: ListenerMetrics(listener: listener, factory: metrics),
            sslContext: context, verification: tls?.customVerificationCallback, peerVerification: peerVerification)
        return HTTPServerBuilder { responder in LimitedChildChannel(responder: responder, shared: channel) }
    }

    /// As `builder`, with TLS from a certificate chain and key in PEM files.
    public static func builder(listener: String, limits: ListenerLimits, tlsFiles: TLSFiles?) throws -> HTTPServerBuilder {
        guard let tlsFiles else { return try builder(listener: listener, limits: limits) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(tlsFiles.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsFiles.keyPath, format: .pem)))
        return try builder(listener: listener, limits: limits, tls: TLSChannelConfiguration(tlsConfiguration: configuration))
    }
}

/// A connection closed as it was accepted: the listener was at its cap.
struct ConnectionRefused: Error {}

/// One listener's child channel: admits a connection under the cap, then
/// builds its pipeline (TLS, guard, HTTP/1 with the deadline handler).
struct LimitedChildChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    /// What every connection of the listener shares.
    struct Shared: Sendable {
        let limits: ListenerLimits
        let cap: ConnectionCap
        let metrics: ListenerMetrics
        let sslContext: NIOSSLContext?
        let verification: TLSChannelConfiguration.CustomVerificationCallback?
        let peerVerification: HardenedHTTPServer.PeerVerification?

        /// The client-certificate callback of one connection from `peer`.
        func verification(peer: SocketAddress?) -> TLSChannelConfiguration.CustomVerificationCallback? {
            guard let peerVerification else { return verification }
            return { certificates, promise in promise.completeWithTask { await peerVerification(certificates, peer) } }
        }
    }

    let responder: HTTPChannelHandler.Responder
    let shared: Shared
    private let http1: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, shared: Shared) {
        self.responder = responder
        self.shared = shared
        let limits = shared.limits, metrics = shared.metrics, tls = shared.sslContext != nil
        // No Hummingbird idle timeout: RequestDeadlineHandler keeps that clock with the others.
        http1 = HTTP1Channel(responder: responder, configuration: .init(
            additionalChannelHandlers: [RequestDeadlineHandler(limits: limits, metrics: metrics, tls: tls)]))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let shared = self.shared
        guard shared.cap.admit() else {
            // Not registered yet: closing releases the socket; the failed future makes
            // the server skip this connection (NIOAsyncChannel drops failed initialisations).
            shared.metrics.refused.increment()
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionRefused())
        }
        shared.metrics.open.increment()
        channel.closeFuture.whenComplete { _ in
            shared.cap.release()
            shared.metrics.open.decrement()
        }
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            if let sslContext = shared.sslContext {
                try pipeline.addHandler(NIOSSLServerHandler(
                    context: sslContext, customVerificationCallback: shared.verification(peer: channel.remoteAddress),
                    configuration: .init()))
            }
            try pipeline.addHandler(ConnectionGuardHandler(
                handshakeTimeout: shared.sslContext == nil ? nil : shared.limits.tlsHandshakeTimeout, metrics: shared.metrics))
        }.flatMap {
            http1.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}
