import CertctlConfig
import Foundation
import Metrics
import NIOCore
import Synchronization

/// Per-source fixed one-minute windows (CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN; `limit` 0 disables it).
///
/// Constant time per request and bounded memory whatever the traffic: the
/// windows of one minute live in one table that is replaced when the minute
/// changes (the old one is freed outside the lock), and a table never holds
/// more than `maxSources` sources; sources beyond that in a minute are let
/// through uncounted (`certctl_ocsp_rate_limit_overflow_total`), since
/// refusing everyone new would turn a flood of addresses into an outage.
/// IPv6 sources count by their `/ipv6Prefix` network, so one host cannot
/// escape the limit by walking its /64.
package final class RateLimiter: Sendable {
    /// A source: an IPv4 address, or an IPv6 network (masked to the prefix), as 128 bits.
    package struct Source: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
    }

    private struct Table {
        var minute: Int
        var counts: [Source: Int32]
    }

    private let table: Mutex<Table>
    let limit: Int
    let maxSources: Int
    let ipv6Prefix: Int

    package init(limitPerMinute: Int, maxSources: Int = 1_000_000, ipv6Prefix: Int = 64) {
        limit = limitPerMinute
        self.maxSources = maxSources
        self.ipv6Prefix = ipv6Prefix
        table = Mutex(Table(minute: 0, counts: [:]))
    }

    /// The key `client` (an address literal, or "unknown") counts under.
    package func source(_ client: String) -> Source {
        guard let bytes = IPMatcher.parse(client) else { return Source(high: 0, low: 0) }
        if bytes.count == 4 {
            return Self.source(ipv4: UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3]))
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        return source(ipv6High: high, low: low)
    }

    /// The key a TCP peer counts under, read from the socket address as it is
    /// (no text on the request path); the same key as `source(peer.ipAddress)`.
    package func source(peer: SocketAddress?) -> Source {
        switch peer {
        case .v4(let address)?:
            return Self.source(ipv4: UInt32(bigEndian: address.address.sin_addr.s_addr))
        case .v6(let address)?:
            var high: UInt64 = 0, low: UInt64 = 0
            withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
                for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
            }
            return source(ipv6High: high, low: low)
        default:
            return Source(high: 0, low: 0)  // "unknown"
        }
    }

    /// IPv4: ::ffff:a.b.c.d, never masked.
    private static func source(ipv4: UInt32) -> Source {
        Source(high: 0, low: 0xffff_0000_0000 | UInt64(ipv4))
    }

    private func source(ipv6High high: UInt64, low: UInt64) -> Source {
        var high = high, low = low
        if high == 0, low >> 32 == 0xffff {
            return Self.source(ipv4: UInt32(truncatingIfNeeded: low))  // ::ffff:a.b.c.d is the IPv4 source a.b.c.d
        }
        let prefix = min(max(ipv6Prefix, 0), 128)
        if prefix < 64 {
            high &= prefix == 0 ? 0 : ~UInt64(0) << (64 - prefix)
            low = 0
        } else if prefix < 128 {
            low &= prefix == 64 ? 0 : ~UInt64(0) << (128 - prefix)
        }
        return Source(high: high, low: low)
    }

    /// nil when allowed; otherwise the seconds until the window resets.
    package func check(_ client: String, now: Date = Date()) -> Int? {
        guard limit > 0 else { return nil }
        return check(source(client), now: now)
    }

    /// As `check(_:now:)` for a source already worked out.
    package func check(_ key: Source, now: Date = Date()) -> Int? {
        guard limit > 0 else { return nil }
        let seconds = Int(now.timeIntervalSince1970)
        let minute = seconds / 60
        var expired: [Source: Int32]?
        var overflow = false
        let count: Int32 = table.withLock { table in
            if table.minute != minute {
                expired = table.counts  // freed after the lock is released
                table = Table(minute: minute, counts: Dictionary(minimumCapacity: min(table.counts.count, maxSources)))
            }
            if let current = table.counts[key] {
                let next = current &+ (current < Int32.max ? 1 : 0)
                table.counts[key] = next
                return next
            }
            guard table.counts.count < maxSources else {
                overflow = true
                return 0
            }
            table.counts[key] = 1
            return 1
        }
        expired = nil
        if overflow { Counter(label: "certctl_ocsp_rate_limit_overflow_total").increment() }
        return Int(count) > limit ? max(1, (minute + 1) * 60 - seconds) : nil
    }

    /// Sources counted in the current minute (tests, metrics).
    package var trackedSources: Int { table.withLock { $0.counts.count } }
}
