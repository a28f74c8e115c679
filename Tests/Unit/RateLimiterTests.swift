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

    @Test("memory is bounded: at most maxSources sources a minute; more are let through uncounted; a new minute starts an empty table")
    func bounded() {
        let limiter = RateLimiter(limitPerMinute: 1, maxSources: 1_000)
        for index in 0..<5_000 { _ = limiter.check("10.0.\(index / 256).\(index % 256)", now: Self.start) }
        #expect(limiter.trackedSources == 1_000)
        #expect(limiter.check("10.0.0.0", now: Self.start) != nil, "a tracked source is still limited")
        #expect(limiter.check("10.0.19.0", now: Self.start) == nil && limiter.check("10.0.19.0", now: Self.start) == nil,
                "a source beyond the bound is let through")
        #expect(limiter.check("10.0.0.0", now: Self.start.addingTimeInterval(60)) == nil)
        #expect(limiter.trackedSources == 1, "the previous minute's table is gone")
    }

    @Test("IPv6 sources count by their /64 (configurable); IPv4 sources by address")
    func ipv6Prefix() {
        let limiter = RateLimiter(limitPerMinute: 2)
        #expect(limiter.check("2001:db8:1:2::1", now: Self.start) == nil)
        #expect(limiter.check("2001:db8:1:2:ffff::9", now: Self.start) == nil)
        #expect(limiter.check("2001:db8:1:2:abcd::", now: Self.start) != nil, "the third request from one /64")
        #expect(limiter.check("2001:db8:1:3::1", now: Self.start) == nil, "another /64")
        #expect(limiter.source("192.0.2.1") != limiter.source("192.0.2.2"))
        #expect(limiter.source("::ffff:192.0.2.1") == limiter.source("192.0.2.1"), "an IPv4-mapped address is the IPv4 source")
        let wide = RateLimiter(limitPerMinute: 1, ipv6Prefix: 48)
        #expect(wide.source("2001:db8:1:2::1") == wide.source("2001:db8:1:ffff::1"))
        #expect(wide.source("2001:db8:1:2::1") != wide.source("2001:db8:2::1"))
        let exact = RateLimiter(limitPerMinute: 1, ipv6Prefix: 128)
        #expect(exact.source("2001:db8::1") != exact.source("2001:db8::2"))
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
