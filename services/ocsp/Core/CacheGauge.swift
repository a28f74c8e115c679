import CertctlRuntime
import Metrics
import ServiceLifecycle

/// Publishes the memory cache's size every few seconds.
struct CacheGauge: Service {
    let cache: ResponseCache

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            Gauge(label: "certctl_ocsp_cache_entries").record(cache.count)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
        }
    }
}
