import CertctlStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Refusals of clients that did not authenticate (SCEP and EST refusals, TLS handshakes refused for an untrusted
/// client certificate, 401/403 on the admin API) are audited in aggregate: one row per source, kind and window
/// (a minute by default) carrying the count, written when the window ends. A flood from one address is one row a
/// minute, not one row a request. The table is bounded: past `maxEntries` sources in a window, further refusals
/// are counted in one overflow row per kind (source `*`). Every refusal is counted in the metric
/// `<metric>{protocol, reason}` as it happens, whatever the table holds.
public final class RefusalAggregator: Service, Sendable {
    /// What was refused, apart from who asked: the audit row's action, code and target.
    public struct Kind: Hashable, Sendable {
        public var proto: String
        public var actor: String
        public var action: String
        public var code: String
        public var targetType: String?
        public var targetID: String?

        public init(proto: String, actor: String, action: String, code: String, targetType: String? = nil, targetID: String? = nil) {
            self.proto = proto
            self.actor = actor
            self.action = action
            self.code = code
            self.targetType = targetType
            self.targetID = targetID
        }
    }

    struct Key: Hashable {
        let source: String
        let kind: Kind
    }

    struct Entry {
        var count: Int
        /// Details of the first refusal of the window (e.g. its reason), kept as an example.
        let sample: [String: String]
    }

    struct Window {
        var started = Date()
        var entries: [Key: Entry] = [:]
        var overflow: [Kind: Int] = [:]
    }

    public static let defaultWindow: Duration = .seconds(60)
    public static let defaultMaxEntries = 10_000

    let service: String
    let metric: String
    let audit: AuditLog
    let window: Duration
    let maxEntries: Int
    let metrics: any MetricsFactory
    let logger: Logger
    private let current = Mutex(Window())

    /// `service`: the audit rows' service; `metric`: the counter's label (e.g. `certctl_enroll_refusals_total`).
    public init(service: String, metric: String, audit: AuditLog, window: Duration = defaultWindow,
                maxEntries: Int = defaultMaxEntries, metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger) {
        self.service = service
        self.metric = metric
        self.audit = audit
        self.window = window
        self.maxEntries = maxEntries
        self.metrics = metrics
        self.logger = logger
    }

    /// Counts one refusal of `kind` from `source` (a client address, or a certificate fingerprint where no
    /// address is known). Constant time and memory per call; nothing is written until the window ends.
    public func record(_ kind: Kind, source: String, details: @autoclosure () -> [String: String] = [:]) {
        Counter(label: metric, dimensions: [("protocol", kind.proto), ("reason", kind.code)], factory: metrics).increment()
        let key = Key(source: source, kind: kind)
        current.withLock { window in
            if window.entries[key] != nil {
                window.entries[key]!.count += 1
            } else if window.entries.count < maxEntries {
                window.entries[key] = Entry(count: 1, sample: details())
            } else {
                window.overflow[kind, default: 0] += 1
            }
        }
    }

    /// Writes one audit row per source and kind of the window that ends now (and one per kind that overflowed),
    /// and starts the next window. Returns the number of rows written.
    @discardableResult
    public func flush() async -> Int {
        let ended = Date()
        let closed = current.withLock { window -> Window in
            let closed = window
            window = Window(started: ended)
            return closed
        }
        let span = ["window_start": Self.iso(closed.started), "window_end": Self.iso(ended)]
        var rows = closed.entries.map { key, entry in
            record(key.kind, details: entry.sample.merging(span) { a, _ in a }
                .merging(["source": key.source, "count": "\(entry.count)"]) { _, new in new })
        }
        rows += closed.overflow.map { kind, count in
            record(kind, details: span.merging(["source": "*", "count": "\(count)", "overflow": "true"]) { _, new in new })
        }
        var written = 0
        for row in rows {
            do {
                try await audit.record(row)
                written += 1
            } catch {
                logger.error("could not audit aggregated refusals", metadata: [
                    "action": "\(row.action)", "code": "\(row.errorCode ?? "-")", "source": "\(row.details["source"] ?? "-")",
                    "count": "\(row.details["count"] ?? "-")", "error": "\(DatabaseErrorText.describe(error))",
                ])
            }
        }
        return written
    }

    private func record(_ kind: Kind, details: [String: String]) -> AuditRecord {
        AuditRecord(service: service, actor: kind.actor, action: kind.action, outcome: .denied, targetType: kind.targetType,
                    targetID: kind.targetID, errorCode: kind.code, details: details)
    }

    /// Flushes at the end of every window, and once more on shutdown so that nothing counted is lost.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.window) }
            await flush()
        }
        // What was counted while the last flush was writing (shutdown came during it).
        await flush()
    }

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }
}
