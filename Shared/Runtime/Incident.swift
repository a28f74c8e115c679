import CertctlConfig
import CertctlStore
import Logging

/// A failure of the server (database, signer, a bug) that a client learns of only as a typed code and an id.
/// The details, which may hold SQL, file paths or key names, go to the log under that id and never into an
/// answer. Admin, EST, SCEP and OCSP map one to their own error form: a JSON problem, an EST text body,
/// a SCEP HTTP error, OCSP `internalError` / `tryLater`.
public struct Incident: Sendable, Equatable {
    /// What the client may be told: the database is unreachable (try again later) or anything else.
    public enum Kind: String, Sendable {
        case databaseUnavailable = "database_unavailable"
        case internalError = "internal_error"
    }

    /// 16 hex digits, unique enough to find one log line among millions.
    public let id: String
    public let kind: Kind

    /// The client-facing code (`database_unavailable` or `internal_error`).
    public var code: String { kind.rawValue }
    /// HTTP status for the kind: 503 for the database (retryable), 500 for the rest.
    public var status: Int { kind == .databaseUnavailable ? 503 : 500 }
    /// The text a client gets: generic, with the id to quote.
    public var message: String {
        switch kind {
        case .databaseUnavailable: return "the database is unavailable, try again later (incident \(id))"
        case .internalError: return "internal error (incident \(id))"
        }
    }

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// Logs `message` with the full description of `error` under a fresh id and returns the incident.
    public static func record(
        _ message: Logger.Message, error: any Error, metadata: Logger.Metadata = [:], logger: Logger
    ) -> Incident {
        record(message, kind: kind(of: error), detail: DatabaseErrorText.describe(error), metadata: metadata, logger: logger)
    }

    /// `databaseUnavailable` for what retrying later may cure: Postgres unreachable or shutting down (08, 57),
    /// out of resources (53), a deadlock or serialization failure (40), a read-only database (25006).
    /// Any other error, an SQL error included (a bug or a broken schema), is `internalError`.
    public static func kind(of error: any Error) -> Kind {
        if let state = DatabaseErrorText.sqlState(error) {
            let retryable = ["08", "53", "57", "40"].contains(String(state.prefix(2))) || state == "25006"
            return retryable ? .databaseUnavailable : .internalError
        }
        // no SQLSTATE: the connection, the pool or a transaction failed
        return DatabaseErrorText.isDatabaseFailure(error) ? .databaseUnavailable : .internalError
    }

    /// Logs `message` with `detail` under a fresh id: for failures that are not a thrown error.
    public static func record(
        _ message: Logger.Message, kind: Kind, detail: String, metadata: Logger.Metadata = [:], logger: Logger
    ) -> Incident {
        let incident = Incident(id: Hex.random(octets: 8), kind: kind)
        var fields = metadata
        fields["incident"] = "\(incident.id)"
        fields["error"] = "\(detail)"
        logger.error(message, metadata: fields)
        return incident
    }
}
