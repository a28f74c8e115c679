import Metrics
import Synchronization

/// The metrics of one HTTP listener's limits, labelled `listener` (admin, ocsp,
/// crl, enroll, signer, est).
struct ListenerMetrics: Sendable {
    /// Why a connection was closed by the listener rather than by its client.
    enum Deadline: String, Sendable {
        case idle, header, body
        case tlsHandshake = "tls_handshake"
    }

    let open: Meter
    let refused: Counter
    private let closes: [Deadline: Counter]

    init(listener: String, factory: any MetricsFactory) {
        open = Meter(label: "certctl_http_connections_open", dimensions: [("listener", listener)], factory: factory)
        refused = Counter(label: "certctl_http_connections_refused_total", dimensions: [("listener", listener)], factory: factory)
        var closes: [Deadline: Counter] = [:]
        for deadline in [Deadline.idle, .header, .body, .tlsHandshake] {
            closes[deadline] = Counter(label: "certctl_http_deadline_closes_total",
                                       dimensions: [("listener", listener), ("deadline", deadline.rawValue)], factory: factory)
        }
        self.closes = closes
    }

    func closed(by deadline: Deadline) {
        closes[deadline]?.increment()
    }
}

/// Open connections of one listener against its cap (`CERTCTL_HTTP_MAX_CONNECTIONS`).
final class ConnectionCap: Sendable {
    let maximum: Int
    private let count = Atomic<Int>(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot, or returns false when all `maximum` are taken.
    func admit() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < maximum {
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }

    var current: Int { count.load(ordering: .relaxed) }
}
