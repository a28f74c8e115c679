import Synchronization

/// Thrown by `withTimeout` when the operation did not finish in time.
public struct TimeoutError: Error, CustomStringConvertible {
    public let after: Duration
    public var description: String { "timed out after \(after)" }
}

/// Runs `operation`, throwing `TimeoutError` after `limit` and cancelling it.
///
/// Returns at the limit even when the operation ignores cancellation (a query
/// waiting for a pool connection while Postgres is away did: a task group waits
/// for its children, so the readiness check "timed out" only when Postgres came
/// back). Such an operation runs on, detached, until it ends by itself.
public func withTimeout<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Outcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.start(continuation, limit: limit, operation)
        }
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// The first of the operation, the timer and cancellation to finish resumes the caller, once.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var done = false
        var early: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>, limit: Duration,
               _ operation: @escaping @Sendable () async throws -> T) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if state.done { return state.early }
            state.continuation = continuation
            return nil
        }
        if let early {  // cancelled before it started
            continuation.resume(with: early)
            return
        }
        let work = Task {
            do { self.finish(.success(try await operation())) } catch { self.finish(.failure(error)) }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            self.finish(.failure(TimeoutError(after: limit)))
        }
        let cancelNow = state.withLock { state -> Bool in
            state.tasks = [work, timer]
            return state.done
        }
        if cancelNow { work.cancel(); timer.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard !state.done else { return (nil, []) }
            state.done = true
            state.early = result
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}
