#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Addresses and CIDR blocks (IPv4 and IPv6), e.g. the OCSP tier's trusted
/// proxies. IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 entries.
public struct IPMatcher: Sendable {
    struct Block: Sendable {
        var bytes: [UInt8]
        var prefix: Int
    }

    let blocks: [Block]

    /// `patterns` must each pass `isValidPattern`; others are ignored.
    public init(_ patterns: [String]) {
        blocks = patterns.compactMap(Self.block)
    }

    public var isEmpty: Bool { blocks.isEmpty }

    public static func isValidPattern(_ text: String) -> Bool { block(text) != nil }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.parse(address) else { return false }
        let candidates = [bytes] + (Self.unmapped(bytes).map { [$0] } ?? [])
        return blocks.contains { block in
            candidates.contains { $0.count == block.bytes.count && Self.prefixMatches($0, block.bytes, block.prefix) }
        }
    }

    /// Bytes of an IPv4 or IPv6 address literal.
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func block(_ text: String) -> Block? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = parse(String(parts[0])) else { return nil }
        var prefix = bytes.count * 8
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bytes.count * 8).contains(value) else { return nil }
            prefix = value
        }
        return Block(bytes: bytes, prefix: prefix)
    }

    static func unmapped(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return Array(bytes[12...])
    }

    static func prefixMatches(_ a: [UInt8], _ b: [UInt8], _ prefix: Int) -> Bool {
        var remaining = prefix
        for index in 0..<a.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a[index] & mask != b[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}
