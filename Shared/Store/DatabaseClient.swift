import Logging
import PostgresNIO
import Synchronization

/// Thrown at once, without waiting for a connection, while the process's
/// readiness check has found Postgres unreachable (`DatabaseClient.markUnreachable`).
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var description: String { "database unavailable (unreachable at the last readiness check)" }
}

/// The process's connection pool, as every store uses it: postgres-nio's
/// `PostgresClient` behind a handle that can replace it.
///
/// Why a handle: after its connection attempts fail for a while, a
/// `PostgresClient` waits 100 ms × 1.25^n between attempts (n failures; ~13 s
/// after one minute of outage, up to 60 s) and cannot be told to retry sooner,
/// and while it keeps failing, queries queue behind it without limit. The
/// readiness monitor therefore closes this handle when Postgres is
/// unreachable (queries fail at once with `DatabaseUnavailable`) and, once a
/// direct connection succeeds again, swaps in a fresh pool with no failure
/// history (`renew`), so the process is ready as soon as Postgres is.
public final class DatabaseClient: Sendable {
    private let current: Mutex<Pool>
    private let available = Atomic<Bool>(true)
    private let make: @Sendable () -> PostgresClient
    /// New pools for `Database.run` to run.
    let started: AsyncStream<Pool>
    private let start: AsyncStream<Pool>.Continuation

    /// One `PostgresClient` and the signals around its `run()`.
    final class Pool: Sendable {
        let client: PostgresClient
        let retired: AsyncStream<Void>
        let retire: AsyncStream<Void>.Continuation
        /// Set just before `client.run()` is entered.
        let running: Atomic<Bool>

        init(_ client: PostgresClient) {
            self.client = client
            (retired, retire) = AsyncStream.makeStream(of: Void.self)
            running = Atomic(false)
        }

        /// Returns once `run()` is under way (or after a second: queries then only log a warning, and wait).
        func waitUntilRunning() async {
            let deadline = ContinuousClock.now + .seconds(1)
            while !running.load(ordering: .acquiring), ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(2))
            }
        }

        /// Runs the pool until it is retired or the task is cancelled.
        func run() async {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    self.running.store(true, ordering: .releasing)
                    await self.client.run()
                }
                group.addTask { for await _ in self.retired {} }
                await group.next()
                group.cancelAll()
            }
        }
    }

    init(make: @escaping @Sendable () -> PostgresClient) {
        self.make = make
        (started, start) = AsyncStream.makeStream(of: Pool.self)
        let pool = Pool(make())
        current = Mutex(pool)
        start.yield(pool)
    }

    /// Returns once the pool in use runs (`Database.run` has started it), or after a second.
    public func waitUntilRunning() async {
        await current.withLock { $0 }.waitUntilRunning()
    }

    /// The pool in use, for the readiness check (bypasses the availability gate).
    var pool: PostgresClient { current.withLock { $0.client } }

    /// False while the last readiness check found Postgres unreachable.
    public var isAvailable: Bool { available.load(ordering: .acquiring) }

    public func markUnreachable() { available.store(false, ordering: .releasing) }
    public func markReachable() { available.store(true, ordering: .releasing) }

    /// Replaces the pool with a fresh one and shuts the old one down: queries
    /// still waiting on it fail. Only for a pool that Postgres's absence has
    /// left without working connections.
    public func renew() async {
        let fresh = Pool(make())
        start.yield(fresh)
        // hand it out once Database.run runs it (a query before that only logs a warning, and waits)
        await fresh.waitUntilRunning()
        let old = current.withLock { pool in
            defer { pool = fresh }
            return pool
        }
        old.retire.finish()
    }

    private func client() throws -> PostgresClient {
        guard isAvailable else { throw DatabaseUnavailable() }
        return pool
    }

    // MARK: - PostgresClient's API, as the stores use it

    public func query(
        _ query: PostgresQuery, logger: Logger? = nil, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        try await client().query(query, logger: logger, file: file, line: line)
    }

    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ closure: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await client().withConnection(isolation: isolation, closure)
    }

    public func withTransaction<Result>(
        logger: Logger, file: String = #file, line: Int = #line, isolation: isolated (any Actor)? = #isolation,
        _ closure: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await client().withTransaction(logger: logger, file: file, line: line, isolation: isolation, closure)
    }

    /// `withTransaction` that rethrows the closure's own error (a typed store
    /// error such as "not found") instead of wrapping it, so callers can
    /// match on it; the transaction is rolled back either way.
    public func transaction<Result>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await client().transaction(logger: logger, isolation: isolation, body)
    }
}
