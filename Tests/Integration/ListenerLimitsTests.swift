import CertctlConfig
import CertctlRuntime
import Foundation
import Hummingbird
import HummingbirdTLS
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

/// The listener limits against real sockets: a hardened listener (as every
/// certctl HTTP listener runs) with short deadlines, and raw clients that
/// stall, trickle and pile up connections.
@Suite("Listener limits (slow and abusive clients)", .timeLimit(.minutes(2)))
struct ListenerLimitsTests {
    /// Short clocks so the tests are quick; each test overrides the one it measures.
    static func limits(idle: Duration = .seconds(5), header: Duration = .seconds(5), body: Duration = .seconds(5),
                       handshake: Duration = .seconds(5), connections: Int = 100) -> ListenerLimits {
        ListenerLimits(idleTimeout: idle, headerTimeout: header, bodyTimeout: body, tlsHandshakeTimeout: handshake,
                       maxConnections: connections)
    }

    /// How late a deadline may act on a loaded 2-core CI machine (every suite runs at once).
    static let slack: Duration = .seconds(3)

    /// A running listener: its port and its own metrics registry.
    struct Listener {
        let port: Int
        let registry: PrometheusCollectorRegistry

        /// The value of a `certctl_http_*` sample of this listener (nil when absent).
        func metric(_ name: String, deadline: String? = nil) -> Double? {
            let labels = ["listener=\"test\""] + (deadline.map { ["deadline=\"\($0)\""] } ?? [])
            return ListenerLimitsProcessTests.value(registry.emitToString(), name, labels)
        }

        func closes(_ deadline: String) -> Double? { metric("certctl_http_deadline_closes_total", deadline: deadline) }

        /// Polls briefly: the server counts a close on its own event loop, after the client noticed it.
        func eventually(_ condition: () -> Bool) async -> Bool {
            for _ in 0..<100 where !condition() { try? await Task.sleep(for: .milliseconds(20)) }
            return condition()
        }
    }

    static func withListener(_ limits: ListenerLimits, tls: TLSChannelConfiguration? = nil,
                             _ body: (Listener) async throws -> Void) async throws {
        let router = Router()
        router.get("hello") { _, _ in "hello" }
        router.post("echo") { request, _ -> String in
            String(buffer: try await request.body.collect(upTo: 1 << 20))
        }
        let port = freePort()
        let registry = PrometheusCollectorRegistry()
        let running = Mutex(false)
        let server = try HardenedHTTPServer.builder(listener: "test", limits: limits, tls: tls,
                                                    metrics: PrometheusMetricsFactory(registry: registry))
        let app = Application(router: router, server: server,
                              configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { _ in running.withLock { $0 = true } }, logger: TestEnvironment.logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                for _ in 0..<1500 where !running.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
                try #require(running.withLock { $0 }, "the listener did not start")
                try await body(Listener(port: port, registry: registry))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("ordinary requests are unaffected: several on one kept-alive connection, and a POST with a body")
    func ordinaryRequests() async throws {
        // Pauses of 300 ms against 5 s clocks: nothing here may be cut off, even on a loaded machine.
        try await Self.withListener(Self.limits()) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            defer { connection.close() }
            for _ in 0..<3 {
                #expect(try await connection.get("/hello"))
                try await Task.sleep(for: .milliseconds(300))
            }
            let post = try await RawConnection.open(port: port)
            defer { post.close() }
            try await post.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello")
            try await Task.sleep(for: .milliseconds(200))
            try await post.send(" world")
            #expect(await post.waitFor("hello world"))
            #expect(post.received.hasPrefix("HTTP/1.1 200"))
            #expect(connection.closedAt == nil && post.closedAt == nil)
            #expect(listener.metric("certctl_http_connections_open") == 2)
            for deadline in ["idle", "header", "body", "tls_handshake"] { #expect(listener.closes(deadline) == 0) }
        }
    }

    @Test("half a request head is answered 408 and closed after the header deadline")
    func halfHeader() async throws {
        let header = Duration.milliseconds(400)
        try await Self.withListener(Self.limits(header: header)) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            try await connection.send("GET /hello HTTP/1.1\r\nHost: te")
            let closedAfter = try #require(await connection.waitForClose(timeout: header + Self.slack * 2))
            #expect(closedAfter >= header)
            #expect(closedAfter < header + Self.slack)
            #expect(connection.received.hasPrefix("HTTP/1.1 408"), "got: \(connection.received)")
            #expect(await listener.eventually { listener.closes("header") == 1 })
            #expect(listener.metric("certctl_http_connections_open") == 0)
        }
    }

    @Test("a head trickled a byte at a time is cut off at the header deadline, not extended by each byte")
    func trickledHeader() async throws {
        let header = Duration.milliseconds(500)
        try await Self.withListener(Self.limits(header: header)) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            let trickle = Task {
                for byte in "GET /hello HTTP/1.1\r\nHost: test\r\nX-Pad: \(String(repeating: "a", count: 200))" {
                    guard connection.closedAt == nil else { return }
                    try? await connection.send(String(byte))
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            defer { trickle.cancel() }
            let closedAfter = try #require(await connection.waitForClose(timeout: header + Self.slack * 2))
            #expect(closedAfter >= header)
            #expect(closedAfter < header + Self.slack)
            #expect(connection.received.hasPrefix("HTTP/1.1 408"))
        }
    }

    @Test("a connection that sends nothing is closed after the header deadline, without an answer")
    func silentConnection() async throws {
        let header = Duration.milliseconds(400)
        try await Self.withListener(Self.limits(idle: .seconds(30), header: header)) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            let closedAfter = try #require(await connection.waitForClose(timeout: header + Self.slack * 2))
            #expect(closedAfter >= header)
            #expect(closedAfter < header + Self.slack)
            #expect(connection.received.isEmpty)
            #expect(await listener.eventually { listener.closes("header") == 1 })
            #expect(listener.closes("idle") == 0)
        }
    }

    @Test("a body that stops arriving is answered 408 and closed after the body deadline")
    func stalledBody() async throws {
        let body = Duration.milliseconds(400)
        try await Self.withListener(Self.limits(body: body)) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            let sent = ContinuousClock.now  // the body clock starts when the server has read the head
            try await connection.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789")
            let closedAfter = try #require(await connection.waitForClose(timeout: body + Self.slack * 2, since: sent))
            #expect(closedAfter >= body)
            #expect(closedAfter < body + Self.slack)
            #expect(connection.received.hasPrefix("HTTP/1.1 408"), "got: \(connection.received)")
            #expect(await listener.eventually { listener.closes("body") == 1 })
            #expect(listener.closes("header") == 0)
        }
    }

    @Test("a kept-alive connection with nothing in flight is closed after the idle timeout, not earlier")
    func idleKeepAlive() async throws {
        let idle = Duration.milliseconds(400)
        try await Self.withListener(Self.limits(idle: idle, header: .seconds(10))) { listener in
            let port = listener.port
            let connection = try await RawConnection.open(port: port)
            let sent = ContinuousClock.now
            #expect(try await connection.get("/hello"))
            let closedAfter = try #require(await connection.waitForClose(timeout: idle + Self.slack * 2, since: sent))
            #expect(closedAfter >= idle)
            #expect(closedAfter < idle + Self.slack, "the idle clock, not the 10 s header clock, closed it")
            #expect(connection.received.components(separatedBy: "HTTP/1.1").count == 2, "one response and no 408")
            #expect(await listener.eventually { listener.closes("idle") == 1 })
            #expect(listener.closes("header") == 0)
        }
    }

    @Test("beyond the connection cap a new connection is closed at once; it is served again once one closes")
    func connectionCap() async throws {
        try await Self.withListener(Self.limits(header: .seconds(30), connections: 3)) { listener in
            let port = listener.port
            var open: [RawConnection] = []
            for _ in 0..<3 {
                let connection = try await RawConnection.open(port: port)
                #expect(try await connection.get("/hello"), "admitted under the cap")
                open.append(connection)
            }
            let refused = try await RawConnection.open(port: port)
            try? await refused.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
            let closedAfter = try #require(await refused.waitForClose(timeout: .seconds(5)))
            #expect(closedAfter < .seconds(5), "closed at once, not at the 30 s header deadline")
            #expect(refused.received.isEmpty)
            #expect(open.allSatisfy { $0.closedAt == nil }, "the admitted connections are untouched")
            #expect(listener.metric("certctl_http_connections_refused_total") == 1)
            #expect(listener.metric("certctl_http_connections_open") == 3)

            open.removeFirst().close()
            var served = false
            for _ in 0..<50 where !served {
                let again = try await RawConnection.open(port: port)
                served = (try? await again.get("/hello", timeout: .seconds(1))) ?? false
                again.close()
                if !served { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(served, "a slot is free again once a connection closed")
            for connection in open { connection.close() }
        }
    }

    @Test("a TLS handshake that stalls is closed after the handshake deadline; after a complete one the header deadline applies; a whole request is served")
    func stalledHandshake() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                            "-keyout", "\(directory)/tls.key", "-out", "\(directory)/tls.crt", "-days", "2",
                                            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile("\(directory)/tls.crt").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: "\(directory)/tls.key", format: .pem)))
        // Long enough for a real handshake in a debug build on a loaded machine.
        let handshake = Duration.milliseconds(1500), header = Duration.milliseconds(1500)
        try await Self.withListener(Self.limits(header: header, handshake: handshake),
                                    tls: TLSChannelConfiguration(tlsConfiguration: tls)) { listener in
            let port = listener.port
            let silent = try await RawConnection.open(port: port)
            let partial = try await RawConnection.open(port: port)
            try await partial.send("\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}")  // a ClientHello record that never completes
            for connection in [silent, partial] {
                let closedAfter = try #require(await connection.waitForClose(timeout: handshake + Self.slack * 2))
                #expect(closedAfter >= handshake)
                #expect(closedAfter < handshake + Self.slack)
            }
            #expect(await listener.eventually { listener.closes("tls_handshake") == 2 })
            #expect(listener.closes("header") == 0, "a connection still in its handshake has no header clock")

            let half = try await RawConnection.open(port: port, tls: true)
            try await half.send("GET /hello HTTP/1.1\r\nHost: te")
            let closedAfter = try #require(await half.waitForClose(timeout: header + Self.slack * 2))
            #expect(closedAfter >= header)
            #expect(half.received.hasPrefix("HTTP/1.1 408"), "the 408 comes over TLS; got: \(half.received)")
            #expect(await listener.eventually { listener.closes("header") == 1 })
            #expect(listener.closes("tls_handshake") == 2, "the completed handshake's clock was stopped")
            let reply = try await HTTP.get("https://127.0.0.1:\(port)/hello", options: ["--cacert", "\(directory)/tls.crt"])
            #expect(reply.status == 200 && reply.body == "hello")
        }
    }
}
