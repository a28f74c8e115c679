import CertctlConfig
import CertctlRuntime
import CertctlStore
import Dispatch
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Loads every trust bundle at start, then reloads on SIGHUP (all bundles) and
/// on NOTIFY certctl_trust_anchor_reload ("<reload id>:<name>", sent by the
/// admin API), reporting each replica's outcome in trust_anchor_reload_results.
struct TrustAnchorReloader: Service {
    let holder: TrustAnchorHolder
    let store: TrustAnchorStore
    let databaseURL: DatabaseURL
    let replica: String
    let logger: Logger

    static func replicaName() -> String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    func run() async throws {
        try await retryWhileDatabaseUnavailable("trust bundles", logger: logger, isRetryable: { error in
            DatabaseErrorText.isUnreachable(error) || (error as? PSQLError)?.serverInfo?[.sqlState] == "42P01"
        }) {
            try await reloadAll(reason: "start")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listenForNotifications() }
            group.addTask { try await listenForSIGHUP() }
            try await group.next()
            group.cancelAll()
        }
    }

    func reloadAll(reason: String) async throws {
        for anchor in try await store.list() {
            _ = await reload(anchor, reason: reason)
        }
    }

    /// Reloads one bundle; returns this replica's result.
    func reload(_ anchor: TrustAnchorRecord, reason: String) async -> TrustAnchorReloadResult {
        switch holder.reload(name: anchor.name, purpose: anchor.purpose, path: anchor.path) {
        case .success(let pool):
            logger.info("trust bundle loaded", metadata: [
                "name": "\(anchor.name)", "path": "\(anchor.path)", "certificates": "\(pool.certificates.count)",
                "sha256": "\(pool.sha256)", "reason": "\(reason)",
            ])
            try? await store.recordLoad(name: anchor.name, sha256: pool.sha256, certificateCount: pool.certificates.count,
                                        earliestNotAfter: pool.earliestNotAfter, error: nil)
            return TrustAnchorReloadResult(replica: replica, ok: true, errorCode: nil, errorMessage: nil,
                                           certificateCount: pool.certificates.count, sha256: pool.sha256)
        case .failure(let error):
            logger.error("trust bundle reload refused; the previous pool stays in use", metadata: [
                "name": "\(anchor.name)", "code": "\(error.code)", "error": "\(error)", "reason": "\(reason)",
            ])
            try? await store.recordLoad(name: anchor.name, sha256: nil, certificateCount: nil, earliestNotAfter: nil,
                                        error: "\(error.code): \(error)")
            return TrustAnchorReloadResult(replica: replica, ok: false, errorCode: error.code, errorMessage: "\(error)",
                                           certificateCount: holder.pool(anchor.name)?.certificates.count,
                                           sha256: holder.pool(anchor.name)?.sha256)
        }
    }

    private func listenForNotifications() async throws {
        let listener = NotificationListener(url: databaseURL, channel: NotifyChannel.trustAnchorReload, logger: logger)
        try await listener.withEvents { events in
            for await event in events.cancelOnGracefulShutdown() {
                switch event {
                case .subscribed: break
                case .resync: try? await reloadAll(reason: "resync")  // requests sent while away are lost
                case .notification(let payload):
                    let parts = payload.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, let id = Int64(parts[0]) else { continue }
                    guard let anchor = try? await store.get(String(parts[1])) else { continue }
                    let result = await reload(anchor, reason: "api reload \(id)")
                    do { try await store.report(reloadID: id, result: result) } catch {
                        logger.error("could not report a trust bundle reload", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
                    }
                }
            }
        }
    }

    private func listenForSIGHUP() async throws {
        signal(SIGHUP, SIG_IGN)
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        for await _ in stream.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading trust bundles")
            try? await reloadAll(reason: "SIGHUP")
        }
    }
}
