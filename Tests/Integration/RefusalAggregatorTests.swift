import CertctlConfig
import CertctlRuntime
import CertctlStore
import Foundation
import Prometheus
import ServiceLifecycle
import Testing

/// Refusals of unauthenticated clients are audited per source, kind and window, one row carrying the count,
/// so that a flood cannot grow the audit table without bound; every refusal is counted in the metric.
@Suite("Refusal audit: aggregated per source and window, bounded, every refusal counted", .timeLimit(.minutes(2)))
struct RefusalAggregatorTests {
    static let kind = RefusalAggregator.Kind(proto: "est", actor: "est:default", action: "est.simpleenroll",
                                             code: "est_basic_invalid", targetType: "est_label", targetID: "default")

    func withAggregator(maxEntries: Int = 10_000,
                        _ body: (RefusalAggregator, PrometheusCollectorRegistry, DatabaseURL) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.withClient(url) { client in
                let registry = PrometheusCollectorRegistry()
                let aggregator = RefusalAggregator(
                    service: "enroll", metric: "certctl_enroll_refusals_total", audit: AuditLog(client: client, logger: TestEnvironment.logger),
                    maxEntries: maxEntries, metrics: PrometheusMetricsFactory(registry: registry), logger: TestEnvironment.logger)
                try await body(aggregator, registry, url)
            }
        }
    }

    func metric(_ registry: PrometheusCollectorRegistry, reason: String) -> Int {
        let line = registry.emitToString().split(separator: "\n")
            .first { $0.hasPrefix("certctl_enroll_refusals_total{") && $0.contains(#"reason="\#(reason)""#) }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    func deniedRows(_ url: DatabaseURL) async throws -> [String] {
        try await TestEnvironment.text("""
            SELECT coalesce(string_agg(details->>'source' || '=' || (details->>'count'), ',' ORDER BY details->>'source'), '')
            FROM audit_events WHERE outcome = 'denied'
            """, url).map { $0.split(separator: ",").map(String.init) } ?? []
    }

    @Test("a flood of 5,000 refusals from one address in one window is one audit row with count 5000, and 5000 in the metric")
    func flood() async throws {
        try await withAggregator { aggregator, registry, url in
            for _ in 0..<5000 { aggregator.record(Self.kind, source: "192.0.2.7", details: ["reason": "wrong user name or password"]) }
            #expect(try await TestEnvironment.scalar("SELECT count(*)::int FROM audit_events", url) == 0, "nothing written before the window ends")
            #expect(await aggregator.flush() == 1)
            #expect(try await deniedRows(url) == ["192.0.2.7=5000"])
            let row = try await TestEnvironment.text("""
                SELECT action || ' ' || error_code || ' ' || actor || ' ' || (details->>'reason') || ' ' ||
                       ((details->>'window_end')::timestamptz >= (details->>'window_start')::timestamptz)::text
                FROM audit_events
                """, url)
            #expect(row == "est.simpleenroll est_basic_invalid est:default wrong user name or password true")
            #expect(metric(registry, reason: "est_basic_invalid") == 5000)
            // the next window starts empty: nothing more is written for it
            #expect(await aggregator.flush() == 0)
            #expect(try await TestEnvironment.scalar("SELECT count(*)::int FROM audit_events", url) == 1)
        }
    }

    @Test("two sources and two codes make one row each; past maxEntries sources, the rest is one overflow row per kind")
    func boundedTable() async throws {
        try await withAggregator(maxEntries: 3) { aggregator, registry, url in
            var other = Self.kind
            other.code = "est_unauthenticated"
            aggregator.record(Self.kind, source: "192.0.2.1")
            aggregator.record(Self.kind, source: "192.0.2.1")
            aggregator.record(other, source: "192.0.2.1")
            aggregator.record(Self.kind, source: "192.0.2.2")
            // the table is full (3 entries): 100 new sources go to the overflow counter of their kind
            for index in 0..<100 { aggregator.record(Self.kind, source: "198.51.100.\(index)") }
            aggregator.record(Self.kind, source: "192.0.2.2")  // a known source still counts in its own row
            #expect(await aggregator.flush() == 4)
            let rows = try await deniedRows(url).sorted()
            #expect(rows == ["*=100", "192.0.2.1=1", "192.0.2.1=2", "192.0.2.2=2"].sorted())
            let overflowRows = try await TestEnvironment.scalar(
                "SELECT count(*)::int FROM audit_events WHERE details->>'overflow' = 'true' AND error_code = 'est_basic_invalid'", url)
            #expect(overflowRows == 1)
            #expect(metric(registry, reason: "est_basic_invalid") == 104)
            #expect(metric(registry, reason: "est_unauthenticated") == 1)
        }
    }

    @Test("run() flushes at the end of every window and once more on graceful shutdown")
    func windows() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.withClient(url) { client in
                let aggregator = RefusalAggregator(
                    service: "enroll", metric: "certctl_enroll_refusals_total", audit: AuditLog(client: client, logger: TestEnvironment.logger),
                    window: .milliseconds(200), logger: TestEnvironment.logger)
                let group = ServiceGroup(configuration: .init(services: [aggregator], gracefulShutdownSignals: [],
                                                              logger: TestEnvironment.logger))
                let running = Task { try await group.run() }
                aggregator.record(Self.kind, source: "192.0.2.9")
                // written at the window's end (200 ms; polled, as a loaded CI machine may take seconds to write)
                var rows = 0
                for _ in 0..<150 where rows < 1 {
                    try await Task.sleep(for: .milliseconds(200))
                    rows = try await TestEnvironment.scalar("SELECT count(*)::int FROM audit_events", url) ?? 0
                }
                #expect(rows == 1, "written at the window's end")
                aggregator.record(Self.kind, source: "192.0.2.9")
                await group.triggerGracefulShutdown()
                try await running.value
                #expect(try await TestEnvironment.scalar("SELECT count(*)::int FROM audit_events", url) == 2, "the last window is not lost")
            }
        }
    }
}
