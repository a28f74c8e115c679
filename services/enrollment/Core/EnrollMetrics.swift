import CertctlRuntime
import Metrics

/// `certctl_enroll_requests_total{protocol, operation, outcome}`: outcome is
/// `success` or the typed refusal code. Refusals also go to `refusals`, which counts each in
/// `certctl_enroll_refusals_total{protocol, reason}` and audits them per source and minute.
package struct EnrollMetrics: Sendable {
    package let refusals: RefusalAggregator

    package init(refusals: RefusalAggregator) {
        self.refusals = refusals
    }

    func count(_ proto: String, _ operation: String, _ outcome: String) {
        Counter(label: "certctl_enroll_requests_total",
                dimensions: [("protocol", proto), ("operation", operation), ("outcome", outcome)]).increment()
    }
}
