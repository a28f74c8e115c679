import CertctlStore
import Logging

/// Runs a start-up step until it succeeds, waiting with exponential backoff
/// (0.25 s doubling to `maximumDelay`) while `isRetryable` says the failure is
/// the database's; any other error, or shutdown, ends the attempts.
public func retryWhileDatabaseUnavailable<T: Sendable>(
    _ what: String, logger: Logger, maximumDelay: Duration = .seconds(10),
    isRetryable: (any Error) -> Bool = DatabaseErrorText.isUnreachable,
    _ operation: () async throws -> T
) async throws -> T {
    var delay = Duration.milliseconds(250)
    while true {
        do {
            return try await operation()
        } catch where isRetryable(error) && !Task.isCancelledOrShuttingDown {
            logger.warning("\(what): database unavailable; retrying", metadata: [
                "error": "\(DatabaseErrorText.describe(error))", "retry_in": "\(delay)",
            ])
            try await Task.sleep(for: delay)
            delay = min(delay * 2, maximumDelay)
        }
    }
}
