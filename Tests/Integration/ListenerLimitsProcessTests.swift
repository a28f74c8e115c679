import Foundation
import Testing

/// The listener limits as a real executable reads and applies them (through
/// ServiceProcess), with their metrics.
@Suite("Listener limits in a service process", .timeLimit(.minutes(2)))
struct ListenerLimitsProcessTests {
    @Test("a bad listener limit stops the process at start with exit 78, naming the variable",
          arguments: [("CERTCTL_HTTP_MAX_CONNECTIONS", "lots"), ("CERTCTL_HTTP_HEADER_TIMEOUT", "10"),
                      ("CERTCTL_TLS_HANDSHAKE_TIMEOUT", "0s")])
    func badLimit(variable: String, value: String) async throws {
        let port = freePort()
        let child = try ChildProcess(try TestEnvironment.binary("certctl-crl"), environment: [
            "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:1/certctl", "CERTCTL_CRL_LISTEN": "127.0.0.1:\(port)",
            variable: value,
        ].merging(ServiceProcessTests.placeholderRPCIdentity) { a, _ in a })
        #expect(await child.waitForExit(timeout: .seconds(10)) == 78)
        #expect(child.stderr.contains(variable) && child.stderr.contains("\"\(value)\""), "stderr: \(child.stderr)")
    }

    @Test("certctl-crl closes a half header after CERTCTL_HTTP_HEADER_TIMEOUT, refuses connections beyond CERTCTL_HTTP_MAX_CONNECTIONS, and counts both in /metrics")
    func appliedAndCounted() async throws {
        let ca = try TestCA.create()
        defer { ca.remove() }
        let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["crl"])
        let port = freePort()
        // The database is unreachable: the listener serves health and metrics regardless.
        let child = try ChildProcess(try TestEnvironment.binary("certctl-crl"), environment: [
            "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:1/certctl", "CERTCTL_LOG_FORMAT": "text",
            "CERTCTL_CRL_LISTEN": "127.0.0.1:\(port)", "CERTCTL_HTTP_HEADER_TIMEOUT": "6s", "CERTCTL_HTTP_MAX_CONNECTIONS": "3",
        ].merging(identities.environment(for: "crl")) { a, _ in a })
        defer { child.signal(SIGKILL) }
        try await child.eventually("/healthz 200") { try await HTTP.get("http://127.0.0.1:\(port)/healthz").status == 200 }

        let half = try await RawConnection.open(port: port)
        try await half.send("GET /healthz HTTP/1.1\r\nHost: t")
        let halfClosed = try #require(await half.waitForClose(timeout: .seconds(15)))
        #expect(halfClosed >= .seconds(6) && halfClosed < .seconds(10))
        #expect(half.received.hasPrefix("HTTP/1.1 408"))

        // The silent connections must still be open when the fourth arrives: a header deadline
        // of 6 s leaves room for a test process starved on a loaded machine (3 s was not enough).
        var silent: [RawConnection] = []
        for _ in 0..<3 { silent.append(try await RawConnection.open(port: port)) }
        try await Task.sleep(for: .milliseconds(300))  // all three accepted
        let refused = try await RawConnection.open(port: port)
        let refusedAfter = try #require(await refused.waitForClose(timeout: .seconds(5)))
        #expect(refusedAfter < .seconds(3), "refused at once, not at the 6 s header deadline")
        for connection in silent {
            #expect(await connection.waitForClose(timeout: .seconds(15)) != nil, "closed by the header deadline")
        }

        let metrics = try await HTTP.get("http://127.0.0.1:\(port)/metrics").body
        #expect(Self.value(metrics, "certctl_http_connections_refused_total", ["listener=\"crl\""]) == 1)
        #expect(Self.value(metrics, "certctl_http_deadline_closes_total", ["listener=\"crl\"", "deadline=\"header\""]) == 4)
        #expect(Self.value(metrics, "certctl_http_connections_open", ["listener=\"crl\""]) == 1, "only the /metrics request's own")
        #expect(await child.stop() == 0)
    }

    /// The value of the sample of `name` whose labels include all of `labels`.
    static func value(_ text: String, _ name: String, _ labels: [String]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") && labels.allSatisfy({ line.contains($0) }) {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }
}
