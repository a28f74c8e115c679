import Metrics

/// The CRL publisher's Prometheus series (docs/crl-ocsp.md lists them with alert suggestions).
enum CRLMetrics {
    static func generated(issuerID: String, seconds: Double, revokedCount: Int, at unixTime: Double) {
        Timer(label: "certctl_crl_generation_duration_seconds").recordNanoseconds(Int64(seconds * 1e9))
        Gauge(label: "certctl_crl_last_success_timestamp_seconds", dimensions: [("issuer", issuerID)]).record(unixTime)
        Gauge(label: "certctl_crl_revoked_entries", dimensions: [("issuer", issuerID)]).record(Double(revokedCount))
        Counter(label: "certctl_crl_generations_total", dimensions: [("outcome", "success")]).increment()
    }

    static func skipped() {
        Counter(label: "certctl_crl_generations_total", dimensions: [("outcome", "up_to_date")]).increment()
    }

    /// reason: signer_unavailable, signer_refused, database, encoding.
    static func failed(reason: String) {
        Counter(label: "certctl_crl_generation_failures_total", dimensions: [("reason", reason)]).increment()
        Counter(label: "certctl_crl_generations_total", dimensions: [("outcome", "failure")]).increment()
    }

    /// outcome: served, not_modified, not_found, unavailable.
    static func request(_ outcome: String) {
        Counter(label: "certctl_crl_requests_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// source: memory, database, live.
    static func loaded(from source: String) {
        Counter(label: "certctl_crl_document_loads_total", dimensions: [("source", source)]).increment()
    }

    static func corruptCache() {
        Counter(label: "certctl_crl_cache_corrupt_total").increment()
    }
}
