import CertctlConfig
import CertctlOCSPCore
import CertctlRuntime
import Foundation
import Testing

@Suite("OCSP per-address rate limit")
struct RateLimiterTests {
    static let start = Date(timeIntervalSince1970: 1_795_000_040)  // 20 s into a minute

    @Test("the limit-th request of a minute passes, the next is refused with the seconds left in the window")
    func limit() {
        let limiter = RateLimiter(limitPerMinute: 3)
        for _ in 0..<3 { #expect(limiter.check("192.0.2.1", now: Self.start) == nil) }
        #expect(limiter.check("192.0.2.1", now: Self.start) == 40)
        #expect(limiter.check("192.0.2.1", now: Self.start.addingTimeInterval(39)) == 1)
        // another address has its own window
        #expect(limiter.check("192.0.2.2", now: Self.start) == nil)
    }

    @Test("a new minute starts a new window")
    func reset() {
        let limiter = RateLimiter(limitPerMinute: 1)
        #expect(limiter.check("192.0.2.1", now: Self.start) == nil)
        #expect(limiter.check("192.0.2.1", now: Self.start) != nil)
        #expect(limiter.check("192.0.2.1", now: Self.start.addingTimeInterval(40)) == nil)
    }

    @Test("limit 0 disables it")
    func disabled() {
        let limiter = RateLimiter(limitPerMinute: 0)
        for _ in 0..<1000 { #expect(limiter.check("192.0.2.1", now: Self.start) == nil) }
    }

    @Test("past 100,000 addresses, windows of earlier minutes are dropped and the current ones kept")
    func sweep() {
        let limiter = RateLimiter(limitPerMinute: 1)
        for index in 0..<100_001 { _ = limiter.check("old-\(index)", now: Self.start.addingTimeInterval(-60)) }
        // this check sweeps the previous minute's windows; the window it opens still counts
        #expect(limiter.check("198.51.100.7", now: Self.start) == nil)
        #expect(limiter.check("198.51.100.7", now: Self.start) != nil)
        #expect(limiter.check("old-1", now: Self.start) == nil, "a swept address starts a new window")
    }

    @Test("the client is the TCP peer, or behind a trusted proxy the right-most untrusted X-Forwarded-For hop")
    func clientAddress() {
        let untrusted = ClientAddress(trusted: IPMatcher([]))
        #expect(untrusted.resolve(peer: "192.0.2.9", forwardedFor: ["203.0.113.5"]) == "192.0.2.9", "no trusted proxy: the header is ignored")
        let proxied = ClientAddress(trusted: IPMatcher(["10.0.0.0/8"]))
        #expect(proxied.resolve(peer: "10.1.2.3", forwardedFor: ["203.0.113.5, 10.9.9.9"]) == "203.0.113.5")
        #expect(proxied.resolve(peer: "10.1.2.3", forwardedFor: ["198.51.100.1, 203.0.113.5"]) == "203.0.113.5",
                "a client cannot choose its address by prepending hops")
        #expect(proxied.resolve(peer: "192.0.2.9", forwardedFor: ["203.0.113.5"]) == "192.0.2.9", "the peer is not a trusted proxy")
        #expect(proxied.resolve(peer: "10.1.2.3", forwardedFor: ["not-an-address"]) == "10.1.2.3")
        #expect(proxied.resolve(peer: nil, forwardedFor: []) == "unknown")
    }
}
