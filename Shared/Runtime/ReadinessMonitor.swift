import CertctlStore
import Logging
import ServiceLifecycle
import Synchronization

/// Watches whether this process can do its job: the database answers and its
/// schema matches this build. While it cannot, it retries with backoff and
/// says so in one log line per state change (not a crash loop).
public final class ReadinessMonitor: Service, Sendable {
    public enum State: Sendable, Equatable {
        case starting
        case ready
        case notReady(String)
    }

    private let state = Mutex<State>(.starting)
    /// Start-up steps (besides the database) that must finish before the
    /// process is ready, e.g. a listener that binds after registration.
    private let gates = Mutex<Set<String>>([])
    private let database: Database
    private let migrator: Migrator
    private let logger: Logger
    private let healthyInterval: Duration
    private let maximumBackoff: Duration

    public init(
        database: Database, migrator: Migrator, logger: Logger,
        healthyInterval: Duration = .seconds(5), maximumBackoff: Duration = .seconds(5)
    ) {
        self.database = database
        self.migrator = migrator
        self.logger = logger
        self.healthyInterval = healthyInterval
        self.maximumBackoff = maximumBackoff
    }

    public var current: State {
        let state = state.withLock { $0 }
        guard state == .ready else { return state }
        let waiting = gates.withLock { $0 }
        return waiting.isEmpty ? .ready : .notReady("waiting for: \(waiting.sorted().joined(separator: ", "))")
    }

    /// Database reachable and schema current (start-up gates aside).
    public var databaseReady: Bool { state.withLock { $0 } == .ready }

    /// Holds readiness until `open(name)` is called.
    public func close(_ name: String) {
        _ = gates.withLock { $0.insert(name) }
    }

    public func open(_ name: String) {
        _ = gates.withLock { $0.remove(name) }
    }

    public func run() async throws {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelledOrShuttingDown {
            let next = await check()
            let previous = state.withLock { old in
                defer { old = next }
                return old
            }
            if next != previous { log(transitionTo: next) }
            if next == .ready {
                backoff = .milliseconds(250)
                try? await cancelWhenGracefulShutdown { [healthyInterval] in try await Task.sleep(for: healthyInterval) }
            } else {
                try? await cancelWhenGracefulShutdown { [backoff] in try await Task.sleep(for: backoff) }
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }

    /// One check: `SELECT 1` and the schema status, bounded in time.
    public func check() async -> State {
        let client = database.client
        let migrator = self.migrator
        let logger = self.logger
        do {
            let status = try await withTimeout(.seconds(3)) {
                try await client.query("SELECT 1", logger: logger)
                return try await migrator.status(client, logger: logger)
            }
            switch status {
            case .current: return .ready
            case .pending(let versions):
                return .notReady("schema migrations pending: \(versions.map(String.init).joined(separator: ", ")) (run certctl-admin migrate)")
            case .incompatible(let error): return .notReady("\(error)")
            }
        } catch {
            return .notReady("database \(database.url.redacted) unreachable: \(DatabaseErrorText.describe(error))")
        }
    }

    private func log(transitionTo state: State) {
        switch state {
        case .ready: logger.info("ready: database reachable and schema current")
        case .notReady(let reason): logger.warning("not ready; retrying with backoff", metadata: ["reason": "\(reason)"])
        case .starting: break
        }
    }
}
