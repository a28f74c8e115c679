/// Deadlines and the connection cap every HTTP listener enforces against slow
/// and abusive clients (`CERTCTL_HTTP_IDLE_TIMEOUT`, `_HEADER_TIMEOUT`, `_BODY_TIMEOUT`,
/// `_MAX_CONNECTIONS` and `CERTCTL_TLS_HANDSHAKE_TIMEOUT`). Applied per listener by `CertctlRuntime.HardenedHTTPServer`.
public struct ListenerLimits: Sendable, Equatable {
    /// A kept-alive connection with nothing in flight and no byte of a next request is closed after this.
    public var idleTimeout: Duration
    /// A request head must be complete this long after the connection opened (or its TLS
    /// handshake finished), or after the first byte of a later request on the connection.
    public var headerTimeout: Duration
    /// A request body must be complete this long after its head.
    public var bodyTimeout: Duration
    /// A TLS handshake must finish this long after the connection opened.
    public var tlsHandshakeTimeout: Duration
    /// Open connections per listener; beyond it new ones are closed at once.
    public var maxConnections: Int

    public init(idleTimeout: Duration, headerTimeout: Duration, bodyTimeout: Duration,
                tlsHandshakeTimeout: Duration, maxConnections: Int) {
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.tlsHandshakeTimeout = tlsHandshakeTimeout
        self.maxConnections = maxConnections
    }

    public init(_ env: Environment) throws(ConfigError) {
        idleTimeout = try env.read(Catalog.httpIdleTimeout)
        headerTimeout = try env.read(Catalog.httpHeaderTimeout)
        bodyTimeout = try env.read(Catalog.httpBodyTimeout)
        tlsHandshakeTimeout = try env.read(Catalog.tlsHandshakeTimeout)
        maxConnections = try env.read(Catalog.httpMaxConnections)
    }

    /// Pending connections the kernel queues for each listener (capped by net.core.somaxconn).
    /// Hummingbird's default of 256 overflowed under a burst of 1,000 concurrent issuances
    /// on a loaded 2-core machine (scripts/drills/signer-kill.sh saw TCP resets).
    public static let listenBacklog = 4096

    /// The documented defaults (what an empty environment yields).
    public static var defaults: ListenerLimits {
        // Every default parses (Environment.read checks it), so this cannot fail.
        (try? ListenerLimits(Environment([:])))!
    }
}
