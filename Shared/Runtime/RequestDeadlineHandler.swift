import CertctlConfig
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NIOSSL
import NIOTLS

/// The per-request deadlines of one HTTP/1 connection, on the decoded parts
/// (after the HTTP codec, before Hummingbird's connection-state handler).
/// At most one clock runs at a time:
/// - header: from the connection opening (or its TLS handshake completing), or
///   from the first byte of a later request, until that request's head is complete;
/// - body: from a head until the end of its body;
/// - idle: from the last response ending, with nothing in flight, until a byte
///   of a next request arrives (which starts the header clock).
/// While the server works on a request no clock runs. An expired header or
/// body clock answers 408 when no response has started; every expiry closes
/// the connection.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    typealias Deadline = ListenerMetrics.Deadline

    private let limits: ListenerLimits
    private let metrics: ListenerMetrics
    private var clock: (deadline: Deadline, task: Scheduled<Void>)?
    /// Heads read whose response has not ended.
    private var requestsInFlight = 0
    /// A head read whose end has not arrived.
    private var readingRequest = false
    /// Bytes of a request whose head is not complete yet have arrived.
    private var partialHead = false
    private var responseStarted = false
    /// Closed or closing: no clock may start again.
    private var finished = false

    /// On a TLS connection the header clock starts when the handshake completes
    /// (the handshake has its own deadline, kept by `ConnectionGuardHandler`).
    private let startsAfterHandshake: Bool

    init(limits: ListenerLimits, metrics: ListenerMetrics, tls: Bool) {
        self.limits = limits
        self.metrics = metrics
        startsAfterHandshake = tls
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !startsAfterHandshake { start(.header, context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finished = true
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finished = true
        stop()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesArrived {
            guard !readingRequest else { return }
            partialHead = true
            if clock?.deadline == .idle { start(.header, context: context) }
            return
        }
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls, requestsInFlight == 0, !readingRequest {
            start(.header, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestsInFlight += 1
            readingRequest = true
            partialHead = false
            start(.body, context: context)
        case .body:
            break
        case .end:
            readingRequest = false
            // The server's turn; if it already answered (an early error), the connection is idle.
            if requestsInFlight == 0 { start(.idle, context: context) } else { stop() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            responseStarted = true
        case .body:
            break
        case .end:
            responseStarted = false
            // (Hummingbird answers a parse error with a 400 no head was read for.)
            requestsInFlight = max(0, requestsInFlight - 1)
            if requestsInFlight == 0, !readingRequest {
                start(partialHead ? .header : .idle, context: context)
            }
        }
        context.write(data, promise: promise)
    }

    private func start(_ deadline: Deadline, context: ChannelHandlerContext) {
        stop()
        guard !finished else { return }
        let timeout: Duration
        switch deadline {
        case .idle: timeout = limits.idleTimeout
        case .header: timeout = limits.headerTimeout
        case .body: timeout = limits.bodyTimeout
        case .tlsHandshake: return
        }
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let task = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            self.expired(deadline, context: loopContext.value)
        }
        clock = (deadline, task)
    }

    private func stop() {
        clock?.task.cancel()
        clock = nil
    }

    private func expired(_ deadline: Deadline, context: ChannelHandlerContext) {
        clock = nil
        finished = true
        metrics.closed(by: deadline)
        let answer: Bool
        switch deadline {
        case .header: answer = partialHead
        case .body: answer = !responseStarted
        case .idle, .tlsHandshake: answer = false
        }
        if answer {
            // A client that sent part of a request learns why it is cut off.
            let head = HTTPResponse(status: .requestTimeout, headerFields: [.connection: "close", .contentLength: "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }
}
