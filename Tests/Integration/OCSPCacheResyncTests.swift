@testable import CertctlOCSPCore
import Foundation
import Testing

@Suite("OCSP memory cache across a LISTEN resync")
struct OCSPCacheResyncTests {
    static let key = CacheKey(issuerID: "iss-local", generation: 1, serialHex: "1a2b", hashAlgorithm: .sha1)
    static func response(_ status: String) -> PreparedResponse {
        PreparedResponse(body: Array(status.utf8), thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(3600), status: status, certStatus: nil)
    }

    @Test("after a resync a stored answer is not served from memory while Postgres answers, but stays the fallback while it cannot")
    func staleIsFallbackOnly() {
        let cache = ResponseCache(capacity: 10)
        #expect(cache.insert(Self.key, Self.response("good"), ifEpoch: cache.epoch))
        #expect(cache.get(Self.key)?.status == "good")

        let before = cache.epoch
        cache.markStale()
        #expect(cache.get(Self.key) == nil, "notifications may have been lost: ask Postgres")
        #expect(cache.fallback(Self.key)?.status == "good", "Postgres unreachable: still valid until nextUpdate")
        // an answer read from Postgres before the resync may predate a lost revocation: dropped
        #expect(!cache.insert(Self.key, Self.response("good"), ifEpoch: before))
        #expect(cache.get(Self.key) == nil)

        #expect(cache.insert(Self.key, Self.response("revoked"), ifEpoch: cache.epoch))
        #expect(cache.get(Self.key)?.status == "revoked")
        #expect(cache.fallback(Self.key)?.status == "revoked")
    }

    @Test("a revocation NOTIFY evicts the stale fallback too")
    func evictDropsStale() {
        let cache = ResponseCache(capacity: 10)
        #expect(cache.insert(Self.key, Self.response("good"), ifEpoch: cache.epoch))
        cache.markStale()
        cache.evict(issuerID: "iss-local", serialHex: "1a2b")
        #expect(cache.fallback(Self.key) == nil)
    }
}
