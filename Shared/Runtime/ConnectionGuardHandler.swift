import NIOCore
import NIOSSL
import NIOTLS

/// Fired inbound by `ConnectionGuardHandler` when the first bytes arrive after
/// the connection opened or after the server last wrote: the start of a
/// request whose head may not be complete yet.
struct RequestBytesArrived: Sendable {}

/// Sits on the byte stream of one connection (after TLS, before the HTTP
/// codec). Closes the connection when its TLS handshake is not finished within
/// the handshake deadline, and tells `RequestDeadlineHandler` when request
/// bytes start to arrive, which the HTTP decoder does not reveal until a head
/// is complete.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let handshakeTimeout: Duration?
    private let metrics: ListenerMetrics
    private var handshakeTimer: Scheduled<Void>?
    private var awaitingRequestBytes = true

    /// `handshakeTimeout` nil: a plain-HTTP listener.
    init(handshakeTimeout: Duration?, metrics: ListenerMetrics) {
        self.handshakeTimeout = handshakeTimeout
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let handshakeTimeout else { return }
        // Added when the connection is accepted: the clock runs from there.
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(handshakeTimeout)) {
            self.handshakeTimer = nil
            self.metrics.closed(by: .tlsHandshake)
            loopContext.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelHandshakeTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelHandshakeTimer()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            cancelHandshakeTimer()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingRequestBytes {
            awaitingRequestBytes = false
            context.fireUserInboundEventTriggered(RequestBytesArrived())
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        awaitingRequestBytes = true
        context.write(data, promise: promise)
    }

    private func cancelHandshakeTimer() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }
}
