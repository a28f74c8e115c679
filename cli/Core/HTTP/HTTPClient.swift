import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An HTTP response, its body already collected.
struct HTTPResult: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// A small HTTP/1.1 client on SwiftNIO: one request per connection, https with a CA file of the
/// operator's choice (FoundationNetworking cannot take one on Linux), an overall deadline and a cap on
/// the response body. Failures to reach the server are CLIErrors with status `unreachable`.
struct HTTPClient: Sendable {
    /// PEM file of the CA certificates to trust for https; nil: the system's trust store.
    let caFile: String?
    let timeout: TimeAmount
    let maxBodyBytes: Int

    init(caFile: String?, timeoutSeconds: Int, maxBodyBytes: Int = 64 << 20) {
        self.caFile = caFile
        self.timeout = .seconds(Int64(max(1, timeoutSeconds)))
        self.maxBodyBytes = maxBodyBytes
    }

    func send(_ method: HTTPMethod, _ url: RequestURL, headers extra: [(String, String)] = [], body: [UInt8]? = nil) async throws -> HTTPResult {
        let sslContext = try url.isTLS ? makeSSLContext() : nil
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.target)
        head.headers.add(name: "Host", value: url.authority)
        head.headers.add(name: "User-Agent", value: "certctl-cli")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: "\(body.count)") }

        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = eventLoop.makePromise(of: HTTPResult.self)
        let request = ResponseCollector.Request(head: head, body: body)
        let limit = maxBodyBytes
        let serverHostname = url.hostIsIPLiteral ? nil : url.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(ResponseCollector(request: request, promise: promise, maxBodyBytes: limit))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            promise.fail(error)
            throw CLIError(.unreachable, "unreachable", "cannot connect to \(url.authority): \(Self.describe(error))")
        }
        let deadline = eventLoop.scheduleTask(in: timeout) {
            channel.pipeline.fireErrorCaught(HTTPClientFailure.timeout)
        }
        defer { deadline.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch let failure as HTTPClientFailure {
            switch failure {
            case .timeout: throw CLIError(.unreachable, "timeout", "\(url.authority) did not answer within \(timeout.nanoseconds / 1_000_000_000) s")
            case .bodyTooLarge: throw CLIError(.failure, "response_too_large", "the response from \(url.authority) exceeds \(maxBodyBytes) bytes")
            case .closedEarly: throw CLIError(.unreachable, "unreachable", "\(url.authority) closed the connection before answering")
            }
        } catch {
            throw CLIError(.unreachable, "unreachable", "\(url.authority): \(Self.describe(error))")
        }
    }

    private func makeSSLContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw CLIError.file(caFile, "is not a PEM CA certificate file (\(error))")
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw CLIError(.failure, "tls", "cannot set up TLS: \(error)")
        }
    }

    /// A readable reason for connection and TLS failures (NIO's descriptions are type dumps).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOSSLError:
            if case .handshakeFailed(let reason) = error { return "TLS handshake failed (\(reason)); is --cacert the CA that issued the server's certificate?" }
            return "TLS: \(error)"
        case let error as NIOSSLExtraError: return "TLS: \(error)"
        case is ChannelError: return "\(error)"
        case let error as IOError: return error.description
        default:
            let text = "\(error)"
            if text.contains("connectTimeout") { return "connection timed out" }
            if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
            return text
        }
    }
}

enum HTTPClientFailure: Error {
    case timeout
    case bodyTooLarge
    case closedEarly
}

/// Writes the request once connected and collects the response into the promise (completed exactly once).
final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    struct Request: Sendable {
        let head: HTTPRequestHead
        let body: [UInt8]?
    }

    private let request: Request
    private let promise: EventLoopPromise<HTTPResult>
    private let maxBodyBytes: Int
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var completed = false

    init(request: Request, promise: EventLoopPromise<HTTPResult>, maxBodyBytes: Int) {
        self.request = request
        self.promise = promise
        self.maxBodyBytes = maxBodyBytes
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let bytes = request.body, !bytes.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= maxBodyBytes else {
                finish(context, .failure(HTTPClientFailure.bodyTooLarge))
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return finish(context, .failure(HTTPClientFailure.closedEarly)) }
            finish(context, .success(HTTPResult(status: Int(head.status.code), headers: head.headers, body: body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(HTTPClientFailure.closedEarly))
        context.fireChannelInactive()
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<HTTPResult, any Error>) {
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
