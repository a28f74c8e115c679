import CertctlConfig
import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The runbook's `crlGenerationLoop`: regenerates the CRL of every live key
/// generation of every issuer each generation interval, and an issuer's CRLs
/// soon after a revocation
/// (debounced, so a burst yields a few CRLs). A lost LISTEN connection means
/// lost notifications, so a reconnect regenerates every issuer; the
/// crl_published channel keeps other replicas' memory copies current.
struct CRLGenerationLoop: Service {
    let generator: CRLGenerator
    let publisher: CRLPublisher
    let store: CRLStore
    let database: DatabaseURL
    let interval: Duration
    let debounce: Duration
    let logger: Logger
    var retryDelay: Duration = .seconds(5)

    /// Issuers waiting for regeneration, with the reason; `all` covers every issuer.
    final class Pending: Sendable {
        private let state = Mutex<(all: CRLTrigger?, issuers: [String: CRLTrigger])>((nil, [:]))
        let wake: AsyncStream<Void>.Continuation
        let signals: AsyncStream<Void>

        init() {
            (signals, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        func mark(_ issuerID: String, _ trigger: CRLTrigger) {
            state.withLock { if $0.issuers[issuerID] == nil { $0.issuers[issuerID] = trigger } }
            wake.yield()
        }

        func markAll(_ trigger: CRLTrigger) {
            state.withLock { $0.all = $0.all ?? trigger }
            wake.yield()
        }

        func take() -> (all: CRLTrigger?, issuers: [String: CRLTrigger]) {
            state.withLock { current in
                defer { current = (nil, [:]) }
                return current
            }
        }
    }

    func run() async throws {
        let pending = Pending()
        pending.markAll(.startup)
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await work(pending) }
                group.addTask { await schedule(pending) }
                group.addTask { await listenForRevocations(pending) }
                group.addTask { await listenForPublications(pending) }
            }
        } onGracefulShutdown: {
            pending.wake.finish()
        }
    }

    private func work(_ pending: Pending) async {
        for await _ in pending.signals {
            if Task.isCancelledOrShuttingDown { return }
            if debounce > .zero {
                // gather the rest of a burst before building
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: debounce) }
            }
            let batch = pending.take()
            // every live generation (active, retired, archived awaiting its final CRL) of each marked issuer
            let live: [CRLIssuer]
            do {
                live = try await store.liveGenerations()
            } catch {
                logger.warning("cannot list issuer generations for CRL generation", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
                if let all = batch.all { pending.markAll(all) }
                for (issuerID, trigger) in batch.issuers { pending.mark(issuerID, trigger) }
                continue
            }
            for generation in live {
                guard let trigger = batch.issuers[generation.issuerID] ?? batch.all else { continue }
                if Task.isCancelledOrShuttingDown { return }
                let issuerID = generation.issuerID
                do {
                    // shutdown cancels a generation waiting for the signer (its transaction rolls back)
                    let outcome = try await cancelWhenGracefulShutdown {
                        try await generator.generate(issuerID, generation: generation.generation, trigger: trigger)
                    }
                    if case .generated(let document) = outcome { publisher.remember(document) }
                } catch CRLGenerationError.unknownIssuer {
                    continue  // a notification about an issuer this database no longer has
                } catch {
                    if Task.isCancelledOrShuttingDown { return }
                    // recorded and logged by the generator; retry soon rather than at the next tick
                    Task {
                        try? await Task.sleep(for: retryDelay)
                        pending.mark(issuerID, trigger)
                    }
                }
            }
        }
    }

    private func schedule(_ pending: Pending) async {
        while !Task.isCancelledOrShuttingDown {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            pending.markAll(.schedule)
        }
    }

    private func listenForRevocations(_ pending: Pending) async {
        let listener = NotificationListener(url: database, channel: NotifyChannel.revocations, logger: logger)
        try? await cancelWhenGracefulShutdown {
            try await listener.withEvents { events in
                for await event in events {
                    switch event {
                    case .subscribed:
                        break
                    case .resync:
                        pending.markAll(.resync)
                    case .notification(let payload):
                        // payload: "issuer_id:serial_hex"
                        let issuerID = String(payload.prefix { $0 != ":" })
                        if !issuerID.isEmpty { pending.mark(issuerID, .revocation) }
                    }
                }
            }
        }
    }

    private func listenForPublications(_ pending: Pending) async {
        let listener = NotificationListener(url: database, channel: NotifyChannel.crlPublished, logger: logger)
        try? await cancelWhenGracefulShutdown {
            try await listener.withEvents { events in
                for await event in events {
                    switch event {
                    case .subscribed: break
                    case .resync: publisher.forgetAll()
                    case .notification(let issuerID):
                        if issuerID == "*" { publisher.forgetAll() } else {
                            publisher.forget(issuerID)
                            // a generation activated or archived: its CRLs (a final one) may be due
                            pending.mark(issuerID, .resync)
                        }
                    }
                }
            }
        }
    }
}
