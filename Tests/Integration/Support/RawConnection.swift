import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A plain TCP client connection that sends exactly the bytes a test gives it
/// (half a header, a trickle, nothing at all) and records what comes back and
/// when the server closed it: what curl cannot do.
final class RawConnection: Sendable {
    let channel: any Channel
    /// When the client began to connect: no server clock can have started earlier, so
    /// "closed at least T after `opened`" holds however late this task was scheduled.
    let opened: ContinuousClock.Instant
    private let collector: Collector

    private init(channel: any Channel, collector: Collector, opened: ContinuousClock.Instant) {
        self.channel = channel
        self.collector = collector
        self.opened = opened
    }

    /// `tls`: speak TLS (without verifying the server) and send and record the plaintext.
    static func open(port: Int, tls: Bool = false) async throws -> RawConnection {
        let collector = Collector()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = tls ? try NIOSSLContext(configuration: configuration) : nil
        let opened = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector, opened: opened)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Everything received so far, as text.
    var received: String { collector.bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    /// When the server closed the connection, nil while it is open.
    var closedAt: ContinuousClock.Instant? { collector.closedAt.withLock { $0 } }

    /// Waits up to `timeout` for the server to close it; returns how long after
    /// `since` (default: opening) it was closed, nil if it is still open.
    func waitForClose(timeout: Duration, since: ContinuousClock.Instant? = nil) async -> Duration? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let closedAt { return closedAt - (since ?? opened) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return closedAt.map { $0 - (since ?? opened) }
    }

    /// Waits until `text` has arrived (true) or `timeout` passed (false).
    func waitFor(_ text: String, timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if received.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return received.contains(text)
    }

    /// Sends one GET with keep-alive and waits for a whole response (Content-Length framed).
    func get(_ path: String, timeout: Duration = .seconds(5)) async throws -> Bool {
        let before = collector.bytes.withLock { $0.count }
        try await send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = collector.bytes.withLock { String(decoding: $0.dropFirst(before), as: UTF8.self) }
            if let headEnd = text.range(of: "\r\n\r\n"),
               let lengthLine = text[..<headEnd.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
               let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
               text.utf8.count - text.utf8.distance(from: text.startIndex, to: headEnd.upperBound) >= length {
                return text.hasPrefix("HTTP/1.1 200")
            }
            if closedAt != nil { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    func close() {
        channel.close(promise: nil)
    }
}

private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let bytes = Mutex<[UInt8]>([])
    let closedAt = Mutex<ContinuousClock.Instant?>(nil)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closedAt.withLock { $0 = $0 ?? .now }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset by the server counts as its close.
        closedAt.withLock { $0 = $0 ?? .now }
        context.close(promise: nil)
    }
}
