import CertctlConfig
import Logging
import PostgresNIO

/// What a subscriber to a Postgres NOTIFY channel sees.
public enum NotifyEvent: Sendable, Equatable {
    /// LISTEN is active for the first time: notifications from now on arrive.
    case subscribed
    /// LISTEN is active again after the connection was lost. Notifications
    /// sent meanwhile are gone: drop or re-check every cached answer.
    case resync
    /// A notification's payload.
    case notification(String)
}

/// Well-known channels. Payloads are small (`issuer_id` + `serial_hex`).
public enum NotifyChannel {
    public static let revocations = "certctl_revocations"
    public static let trustAnchorReload = "certctl_trust_anchor_reload"
    /// Payload: issuer id, or `*`. Sent by a trigger on every crl_cache change
    /// (0003_crl_coverage.sql): publishers drop their in-memory copy.
    public static let crlPublished = "certctl_crl_published"
}

/// Subscribes to a NOTIFY channel on a dedicated connection (outside the pool)
/// and keeps it subscribed: on connection loss it reconnects with exponential
/// backoff and emits `.resync`. A periodic heartbeat query detects a silently
/// dead connection (no FIN), which would otherwise look like a quiet channel.
public struct NotificationListener: Sendable {
    public let url: DatabaseURL
    public let channel: String
    public var heartbeat: Duration = .seconds(15)
    public var initialBackoff: Duration = .milliseconds(100)
    /// Small on purpose: after Postgres returns, a replica's caches are only
    /// resynchronised once LISTEN is back (one cheap attempt a second while away).
    public var maximumBackoff: Duration = .seconds(1)
    let logger: Logger

    public init(url: DatabaseURL, channel: String, logger: Logger) {
        self.url = url
        self.channel = channel
        self.logger = logger
    }

    /// Runs `body` with the channel's events; the subscription lives exactly
    /// as long as `body` does.
    public func withEvents<Result: Sendable>(
        _ body: @Sendable (AsyncStream<NotifyEvent>) async throws -> Result
    ) async throws -> Result {
        let (stream, continuation) = AsyncStream.makeStream(of: NotifyEvent.self, bufferingPolicy: .unbounded)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await self.keepListening(continuation)
                return nil
            }
            defer { group.cancelAll() }
            let result = try await body(stream)
            continuation.finish()
            return result
        }
    }

    /// Reconnect loop; returns only when cancelled.
    func keepListening(_ continuation: AsyncStream<NotifyEvent>.Continuation) async {
        var subscribedBefore = false
        var failures = 0
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            var connection: PostgresConnection?
            do {
                let conn = try await PostgresConnection.connect(
                    configuration: try Database.connectionConfiguration(url), id: connectionID, logger: logger)
                connection = conn
                try await conn.listen(on: channel) { notifications in
                    continuation.yield(subscribedBefore ? .resync : .subscribed)
                    if subscribedBefore {
                        logger.notice("LISTEN re-established; subscribers resynchronise", metadata: ["channel": "\(channel)"])
                    }
                    subscribedBefore = true
                    failures = 0
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await notification in notifications {
                                continuation.yield(.notification(notification.payload))
                            }
                            throw ListenerEnded()
                        }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: heartbeat)
                                _ = try await withTimeout(.seconds(5)) { try await conn.query("SELECT 1", logger: logger) }
                            }
                        }
                        try await group.next()
                    }
                }
            } catch where !Task.isCancelled {
                failures += 1
                logger.warning("LISTEN connection lost; reconnecting", metadata: [
                    "channel": "\(channel)", "error": "\(DatabaseErrorText.describe(error))", "attempt": "\(failures)",
                ])
            } catch {
                // cancelled: fall through to close the connection, then stop
            }
            try? await connection?.close()
            if Task.isCancelled { break }
            let delay = min(initialBackoff * (1 << min(failures, 16)), maximumBackoff)
            try? await Task.sleep(for: delay * Double.random(in: 0.5...1.0))
        }
        continuation.finish()
    }

    struct ListenerEnded: Error {}
}

/// Sends notifications (in or outside a transaction).
public enum Notifier {
    /// `NOTIFY` is transactional: sent on commit, dropped on rollback.
    public static func notify(
        _ channel: String, payload: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(payload))", logger: logger)
    }
}
