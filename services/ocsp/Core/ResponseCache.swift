import CertctlConfig
import CertctlPKI
import Foundation
import Synchronization

struct CacheKey: Hashable, Sendable {
    let issuerID: String
    let generation: Int
    let serialHex: String
    let hashAlgorithm: OCSPHashAlgorithm
}

/// The per-replica in-memory cache of single-CertID, no-nonce responses
/// (good and revoked only; unknown answers are never cached).
///
/// Invalidation is by revocation NOTIFY (`evict`) and LISTEN loss (`markStale`).
/// Both bump `epoch`; an insert carries the epoch read before its data was
/// read from Postgres and is dropped if it changed meanwhile, so an answer
/// built before a revocation can never land after that revocation's eviction.
///
/// A stale entry (stored before the last LISTEN resync, when notifications
/// may have been lost) is never answered from memory while Postgres answers
/// (`get`); it stays only as the last resort while Postgres is unreachable
/// (`fallback`), where it is as good as any pre-signed response until its nextUpdate.
final class ResponseCache: Sendable {
    private struct Entry {
        let response: PreparedResponse
        /// The resync round it was stored in.
        let round: UInt64
    }

    private struct State {
        var entries: [CacheKey: Entry] = [:]
        var epoch: UInt64 = 0
        var round: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var epoch: UInt64 { state.withLock { $0.epoch } }
    var count: Int { state.withLock { $0.entries.count } }

    /// A response stored since the last resync.
    func get(_ key: CacheKey) -> PreparedResponse? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.round == state.round else { return nil }
            return entry.response
        }
    }

    /// Any stored response, stale or not: only for when Postgres cannot be asked.
    func fallback(_ key: CacheKey) -> PreparedResponse? {
        state.withLock { $0.entries[key]?.response }
    }

    /// Stores `response` unless an eviction happened since `epoch` was read.
    @discardableResult
    func insert(_ key: CacheKey, _ response: PreparedResponse, ifEpoch epoch: UInt64, now: Date = Date()) -> Bool {
        guard capacity > 0 else { return false }
        return state.withLock { state in
            guard state.epoch == epoch else { return false }
            if state.entries.count >= capacity, state.entries[key] == nil {
                // Full: drop expired entries, then (if still full) an arbitrary half.
                state.entries = state.entries.filter { $0.value.response.nextUpdate > now }
                if state.entries.count >= capacity {
                    var dropped = 0
                    for key in state.entries.keys where dropped < state.entries.count / 2 {
                        state.entries.removeValue(forKey: key)
                        dropped += 1
                    }
                }
            }
            state.entries[key] = Entry(response: response, round: state.round)
            return true
        }
    }

    /// Drops every hash-algorithm variant of this serial (a revocation NOTIFY).
    func evict(issuerID: String, serialHex: String) {
        state.withLock { state in
            state.epoch &+= 1
            state.entries = state.entries.filter { !($0.key.issuerID == issuerID && $0.key.serialHex == serialHex) }
        }
    }

    /// LISTEN is back after a loss: notifications may have been missed, so
    /// nothing stored so far is answered from memory again while Postgres can
    /// be asked; each entry is replaced as its serial is next requested.
    func markStale() {
        state.withLock { state in
            state.epoch &+= 1
            state.round &+= 1
        }
    }

    /// Drops everything.
    func clear() {
        state.withLock { state in
            state.epoch &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }
}
