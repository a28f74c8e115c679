import CertctlConfig
import Testing

@Suite("Listener limits configuration")
struct ListenerLimitsConfigTests {
    @Test("defaults: 60 s idle, 10 s header, 30 s body, 10 s TLS handshake, 10,000 connections per listener")
    func defaults() throws {
        let limits = try ListenerLimits(Environment([:]))
        #expect(limits == ListenerLimits(idleTimeout: .seconds(60), headerTimeout: .seconds(10), bodyTimeout: .seconds(30),
                                         tlsHandshakeTimeout: .seconds(10), maxConnections: 10_000))
        #expect(ListenerLimits.defaults == limits)
    }

    @Test("set values are read, including sub-second durations")
    func values() throws {
        let limits = try ListenerLimits(Environment([
            "CERTCTL_HTTP_IDLE_TIMEOUT": "2m", "CERTCTL_HTTP_HEADER_TIMEOUT": "250ms", "CERTCTL_HTTP_BODY_TIMEOUT": "1m30s",
            "CERTCTL_TLS_HANDSHAKE_TIMEOUT": "5s", "CERTCTL_HTTP_MAX_CONNECTIONS": "50000",
        ]))
        #expect(limits == ListenerLimits(idleTimeout: .seconds(120), headerTimeout: .milliseconds(250), bodyTimeout: .seconds(90),
                                         tlsHandshakeTimeout: .seconds(5), maxConnections: 50_000))
    }

    @Test("a bad value is refused naming the variable and the value",
          arguments: [
            ("CERTCTL_HTTP_IDLE_TIMEOUT", "forever"), ("CERTCTL_HTTP_IDLE_TIMEOUT", "0"), ("CERTCTL_HTTP_IDLE_TIMEOUT", "2h"),
            ("CERTCTL_HTTP_HEADER_TIMEOUT", "10"), ("CERTCTL_HTTP_HEADER_TIMEOUT", "50ms"), ("CERTCTL_HTTP_HEADER_TIMEOUT", "11m"),
            ("CERTCTL_HTTP_BODY_TIMEOUT", "-1s"), ("CERTCTL_TLS_HANDSHAKE_TIMEOUT", "1d"), ("CERTCTL_TLS_HANDSHAKE_TIMEOUT", "0s"),
            ("CERTCTL_HTTP_MAX_CONNECTIONS", "0"), ("CERTCTL_HTTP_MAX_CONNECTIONS", "many"), ("CERTCTL_HTTP_MAX_CONNECTIONS", "1000001"),
          ])
    func badValue(variable: String, value: String) throws {
        let error = #expect(throws: ConfigError.self) { try ListenerLimits(Environment([variable: value])) }
        #expect(error?.variable == variable)
        #expect(error?.value == value)
        #expect(error?.description.contains(variable) == true)
    }

    @Test("every service's configuration carries the limits")
    func everyService() throws {
        let env = Environment([
            "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:5432/certctl?sslmode=disable",
            "CERTCTL_RPC_TLS_CERT": "/etc/certctl/rpc/service.crt", "CERTCTL_RPC_TLS_KEY": "/etc/certctl/rpc/service.key",
            "CERTCTL_RPC_TLS_CA": "/etc/certctl/rpc/ca.crt", "CERTCTL_HTTP_MAX_CONNECTIONS": "7",
        ])
        #expect(try OCSPConfig(env).common.listenerLimits.maxConnections == 7)
        #expect(try CRLConfig(env).common.listenerLimits.maxConnections == 7)
        #expect(try EnrollConfig(env).common.listenerLimits.maxConnections == 7)
        #expect(try AdminConfig(env).common.listenerLimits.maxConnections == 7)
        #expect(throws: ConfigError.self) {
            try OCSPConfig(Environment(env.values.merging(["CERTCTL_HTTP_BODY_TIMEOUT": "soon"]) { _, new in new }))
        }
    }
}
