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
        /// The database is unreachable but the service keeps answering from
        /// its caches (opted in with `servesFromCacheWhileDatabaseIsDown()`).
        case degraded(String)
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
        healthyInterval: Duration = .seconds(1), maximumBackoff: Duration = .seconds(1)
    ) {
        self.database = database
        self.migrator = migrator
        self.logger = logger
        self.healthyInterval = healthyInterval
        self.maximumBackoff = maximumBackoff
    }

    /// Set once the database has been reachable with a current schema.
    private let wasReady = Mutex<Bool>(false)
    private let degradedAllowed = Mutex<Bool>(false)
    private let lastUnreachable = Mutex<Bool>(false)

    /// For services whose caches can answer without Postgres (OCSP): once
    /// ready, losing the database reports `degraded` (HTTP 200, so a load
    /// balancer keeps sending traffic) instead of not ready.
    public func servesFromCacheWhileDatabaseIsDown() {
        degradedAllowed.withLock { $0 = true }
    }

    /// Conditions besides the database that make the process unable to do
    /// its job (e.g. the signer's clock skew), by key, with the reason /readyz shows.
    private let problems = Mutex<[String: String]>([:])

    /// Sets (or, with nil, clears) a problem that keeps the process not ready.
    public func report(_ key: String, problem: String?) {
        problems.withLock { $0[key] = problem }
    }

    public var current: State {
        let state = state.withLock { $0 }
        if case .notReady(let reason) = state, lastUnreachable.withLock({ $0 }),
           degradedAllowed.withLock({ $0 }), wasReady.withLock({ $0 }) {
            return .degraded(reason)
        }
        guard state == .ready else { return state }
        let problems = problems.withLock { $0 }
        if !problems.isEmpty { return .notReady(problems.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; ")) }
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
        // ServiceGroup starts Database.run beside this: let it start the pool before the first check
        await database.client.waitUntilRunning()
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelledOrShuttingDown {
            let next = await check()
            if next == .ready { wasReady.withLock { $0 = true } }
            let previous = state.withLock { old in
                defer { old = next }
                return old
            }
            if next != previous { log(transitionTo: next) }
            if next == .ready {
                backoff = .milliseconds(250)
                await pause(healthyInterval)
            } else {
                await pause(backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }

    private let recheck = Atomic<Bool>(false)

    /// Something else saw Postgres answer again (e.g. LISTEN reconnected):
    /// check within ~50 ms instead of at the next interval.
    public func recheckSoon() {
        recheck.store(true, ordering: .releasing)
    }

    /// Sleeps `duration`, in slices, ending early on `recheckSoon` or shutdown.
    private func pause(_ duration: Duration) async {
        let until = ContinuousClock.now + duration
        while ContinuousClock.now < until, !Task.isCancelledOrShuttingDown {
            if recheck.exchange(false, ordering: .acquiringAndReleasing) { return }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(50)) }
        }
    }

    /// One check: `SELECT 1` and the schema status through the pool, bounded
    /// in time. A failure is confirmed with a connection of its own: if the
    /// server cannot be reached, the pool is closed (queries fail at once
    /// instead of queueing) and replaced; while closed, only that direct probe
    /// runs, and when it succeeds a fresh pool (no backoff history, see
    /// `DatabaseClient`) is opened and checked.
    public func check() async -> State {
        let database = self.database
        lastUnreachable.withLock { $0 = false }
        if !database.client.isAvailable {
            do {
                try await database.probe()
            } catch {
                lastUnreachable.withLock { $0 = true }
                return unreachable(error)
            }
            await database.client.renew()
            database.client.markReachable()
            logger.notice("database reachable again: fresh connection pool opened")
        }
        do {
            return try await pooledCheck()
        } catch {
            lastUnreachable.withLock { $0 = true }
            do {
                try await database.probe()
            } catch let probeError {
                // A probe that only timed out may be a busy machine, not an outage: closing the pool
                // then would fail every query in flight (seen with 1,000 concurrent issuances).
                if DatabaseErrorText.isUnreachable(probeError), !(probeError is TimeoutError) {
                    // the server itself is away: fail fast from now on and drop the pool's backoff
                    database.client.markUnreachable()
                    await database.client.renew()
                }
                // the probe's error names the cause (the pool's may only say it timed out), and is the
                // one later checks report while the pool is closed: one log line per outage
                return unreachable(probeError)
            }
            return unreachable(error)
        }
    }

    private func pooledCheck() async throws -> State {
        let client = database.client
        let migrator = self.migrator
        let logger = self.logger
        let status = try await withTimeout(.seconds(2)) {
            try await client.query("SELECT 1", logger: logger)
            return try await migrator.status(client, logger: logger)
        }
        switch status {
        case .current: return .ready
        case .pending(let versions):
            return .notReady("schema migrations pending: \(versions.map(String.init).joined(separator: ", ")) (run certctl-admin migrate)")
        case .incompatible(let error): return .notReady("\(error)")
        }
    }

    private func unreachable(_ error: any Error) -> State {
        .notReady("database \(database.url.redacted) unreachable: \(DatabaseErrorText.describe(error))")
    }

    private func log(transitionTo state: State) {
        switch state {
        case .ready: logger.info("ready: database reachable and schema current")
        case .notReady(let reason):
            if current != .degraded(reason) {
                logger.warning("not ready; retrying with backoff", metadata: ["reason": "\(reason)"])
            } else {
                logger.warning("degraded: serving from caches; retrying the database with backoff", metadata: ["reason": "\(reason)"])
            }
        case .starting, .degraded: break
        }
    }
}
