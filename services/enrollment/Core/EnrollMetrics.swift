import Metrics

/// `certctl_enroll_requests_total{protocol, operation, outcome}`: outcome is
/// `success` or the typed refusal code.
package struct EnrollMetrics: Sendable {
    package init() {}

    func count(_ proto: String, _ operation: String, _ outcome: String) {
        Counter(label: "certctl_enroll_requests_total",
                dimensions: [("protocol", proto), ("operation", operation), ("outcome", outcome)]).increment()
    }
}
