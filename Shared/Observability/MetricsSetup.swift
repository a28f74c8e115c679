import Metrics
import Prometheus

/// Process-wide metrics: swift-metrics API, exported in Prometheus text format.
public enum MetricsSetup {
    /// Installs the Prometheus backend for swift-metrics and returns the
    /// registry that `/metrics` renders. Call once per process.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The Prometheus text exposition content type.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
