import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

@Suite("LISTEN/NOTIFY helper against a real Postgres", .timeLimit(.minutes(1)))
struct NotificationListenerTests {
    let logger = TestEnvironment.logger

    @Test("NOTIFY is delivered; after pg_terminate_backend the listener resyncs and delivers again")
    func reconnectsAndResyncs() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let listener = NotificationListener(url: url, channel: NotifyChannel.revocations, logger: logger)
            try await listener.withEvents { events in
                var iterator = events.makeAsyncIterator()
                #expect(await next(&iterator) == .subscribed)

                try await notify(url, "iss-local:1a2b")
                #expect(await next(&iterator) == .notification("iss-local:1a2b"))

                // Kill the listener's server process (it is the only other backend on this test database).
                let killed = try await TestEnvironment.scalar("""
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """, url)
                #expect(killed == 1)

                // Sent while it is disconnected or reconnecting: may be lost, which is what resync is for.
                #expect(await next(&iterator) == .resync)

                try await notify(url, "iss-local:ff")
                #expect(await next(&iterator) == .notification("iss-local:ff"))
            }
        }
    }

    @Test("a notification sent inside a rolled-back transaction is never delivered")
    func transactional() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let listener = NotificationListener(url: url, channel: "certctl_test_tx", logger: logger)
            let logger = self.logger
            try await listener.withEvents { events in
                var iterator = events.makeAsyncIterator()
                #expect(await next(&iterator) == .subscribed)
                try await TestEnvironment.withConnection(url) { connection in
                    try await connection.query("BEGIN", logger: logger)
                    try await Notifier.notify("certctl_test_tx", payload: "rolled-back", on: connection, logger: logger)
                    try await connection.query("ROLLBACK", logger: logger)
                    try await connection.query("BEGIN", logger: logger)
                    try await Notifier.notify("certctl_test_tx", payload: "committed", on: connection, logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                }
                #expect(await next(&iterator) == .notification("committed"))
            }
        }
    }

    @Test("the listener keeps retrying while the database is unreachable, then subscribes")
    func retriesUntilReachable() async throws {
        let server = try TestEnvironment.serverURL()
        let name = "certctl_t_late_" + UUID().uuidString.lowercased().prefix(8)
        let url = server.with(database: name)
        var listener = NotificationListener(url: url, channel: "certctl_test_late", logger: logger)
        listener.maximumBackoff = .milliseconds(200)
        do {
            try await listener.withEvents { events in
                var iterator = events.makeAsyncIterator()
                try await Task.sleep(for: .milliseconds(500))  // a few failed attempts: database missing
                try await TestEnvironment.execute("CREATE DATABASE \(name)", server)
                #expect(await next(&iterator) == .subscribed)
                try await notify(url, "hello", channel: "certctl_test_late")
                #expect(await next(&iterator) == .notification("hello"))
            }
        } catch {
            try? await TestEnvironment.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
            throw error
        }
        try await TestEnvironment.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
    }

    private func notify(_ url: DatabaseURL, _ payload: String, channel: String = NotifyChannel.revocations) async throws {
        let logger = self.logger
        try await TestEnvironment.withConnection(url) { connection in
            try await Notifier.notify(channel, payload: payload, on: connection, logger: logger)
        }
    }
}

/// The next event. A listener that never delivers fails the test through its time limit.
private func next(_ iterator: inout AsyncStream<NotifyEvent>.Iterator) async -> NotifyEvent? {
    await iterator.next()
}
