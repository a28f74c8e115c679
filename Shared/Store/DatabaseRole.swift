import Logging
import PostgresNIO
import Synchronization

/// Whether the database a process reads is a primary or a hot standby
/// (`SELECT pg_is_in_recovery()`), as last probed. A streaming standby
/// (`pg_basebackup -R`) answers reads but refuses every write (SQLSTATE 25006)
/// and LISTEN ("cannot execute LISTEN during recovery"); what a process does
/// there is its own business (certctl-ocsp: docs/scaling.md).
public final class DatabaseRole: Sendable {
    public enum State: UInt8, Sendable, CustomStringConvertible {
        case unknown = 0, primary = 1, standby = 2

        public var description: String {
            switch self {
            case .unknown: return "unknown"
            case .primary: return "primary"
            case .standby: return "standby"
            }
        }
    }

    private let state = Atomic<UInt8>(State.unknown.rawValue)

    public init(_ initial: State = .unknown) {
        state.store(initial.rawValue, ordering: .releasing)
    }

    public var current: State { State(rawValue: state.load(ordering: .acquiring)) ?? .unknown }
    public var isStandby: Bool { current == .standby }

    /// Records a probe's answer; returns the state before it.
    @discardableResult
    public func set(_ new: State) -> State {
        State(rawValue: state.exchange(new.rawValue, ordering: .acquiringAndReleasing)) ?? .unknown
    }

    /// Asks the server: `.standby` while it is in recovery, else `.primary`.
    public static func probe(_ client: DatabaseClient, logger: Logger) async throws -> State {
        let rows = try await client.query("SELECT pg_is_in_recovery()", logger: logger)
        for try await recovering in rows.decode(Bool.self) {
            return recovering ? .standby : .primary
        }
        return .unknown
    }
}
