import Logging
import PostgresNIO

/// Renders a Postgres error for logs and operators.
///
/// `PSQLError`'s own description hides server details on purpose; certctl's
/// SQL carries no secrets in its text, so the server's message, SQLSTATE and
/// detail are what an operator needs to see.
public enum DatabaseErrorText {
    public static func describe(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError { return describe(inner) }
        }
        guard let psql = error as? PSQLError else { return String(describing: error) }
        if let info = psql.serverInfo {
            var text = info[.message] ?? "server error"
            if let code = info[.sqlState] { text += " (SQLSTATE \(code))" }
            if let detail = info[.detail] { text += ": \(detail)" }
            return text
        }
        if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
        return "\(psql.code)"
    }

    /// True for failures of the database or the connection to it (worth
    /// retrying once the database is back), as opposed to programming errors.
    public static func isDatabaseFailure(_ error: any Error) -> Bool {
        error is PSQLError || error is PostgresTransactionError || error is TimeoutError || error is DatabaseUnavailable
            || isPoolError(error)
    }

    /// postgres-nio's `ConnectionPoolError` (e.g. its circuit breaker tripped),
    /// which `PostgresClient` passes through unwrapped; its module is not one
    /// certctl imports, so it is recognised by name.
    static func isPoolError(_ error: any Error) -> Bool {
        String(reflecting: type(of: error)).hasSuffix(".ConnectionPoolError")
    }

    /// Connection-level failures (refused, timed out, database missing, auth
    /// not yet configured) that a process starting before its database may
    /// see; unlike `isDatabaseFailure`, an SQL error is not one of them.
    public static func isUnreachable(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else {
            return error is TimeoutError || error is DatabaseUnavailable || isPoolError(error)
        }
        if psql.code == .server {
            // 3D000 invalid_catalog_name, 57P03 cannot_connect_now, 28xxx auth, 08xxx connection
            let state = psql.serverInfo?[.sqlState] ?? ""
            return state == "3D000" || state == "57P03" || state.hasPrefix("28") || state.hasPrefix("08")
        }
        return true
    }

    /// The server refuses writes: `default_transaction_read_only`, a hot standby
    /// (SQLSTATE 25006 read_only_sql_transaction).
    public static func isReadOnly(_ error: any Error) -> Bool {
        if let transaction = error as? PostgresTransactionError,
           let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            return isReadOnly(inner)
        }
        return sqlState(error) == "25006"
    }

    /// SQLSTATE of a server error, if any.
    public static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

extension PostgresClient {
    /// `withTransaction` that rethrows the closure's own error (a typed store
    /// error such as "not found") instead of wrapping it, so callers can
    /// match on it; the transaction is rolled back either way.
    public func transaction<Result>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
            throw error
        }
    }
}
