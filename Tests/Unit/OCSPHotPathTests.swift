import CertctlOCSPCore
import CertctlPKI
import Foundation
import NIOCore
import Testing

/// The byte-level rewrites on the OCSP request path (docs/benchmarks.md "OCSP vs
/// its HTTP stack") give the answers the straightforward versions gave.
@Suite("OCSP hot path")
struct OCSPHotPathTests {
    /// The GET decoder before it worked on bytes: Foundation's percent and base64 decoding.
    static func reference(_ text: String) -> [UInt8]? {
        guard var decoded = text.removingPercentEncoding else { return nil }
        decoded = decoded.replacingOccurrences(of: " ", with: "+")
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while decoded.count % 4 != 0 { decoded += "=" }
        guard decoded.count <= 4 * ((10 * 1024 + 2) / 3), let data = Data(base64Encoded: decoded) else { return nil }
        return Array(data)
    }

    @Test("GET paths: percent-encoded, base64url, '+' as a space, missing or partial padding decode as before; bad ones are refused")
    func base64Path() {
        let der: [UInt8] = (0..<83).map { UInt8(($0 * 37 + 11) % 256) }
        let plain = Data(der).base64EncodedString()
        let cases = [
            plain, plain.replacingOccurrences(of: "+", with: "%2B").replacingOccurrences(of: "/", with: "%2F")
                .replacingOccurrences(of: "=", with: "%3D"),
            plain.replacingOccurrences(of: "+", with: " "), plain.replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_"),
            plain.replacingOccurrences(of: "=", with: ""), String(plain.dropLast()), "MA", "MA=", "MA==", "MAA", "MAA=", "MAAA",
            // refused
            "M", "M===", "MA%", "MA%2", "MA%zz", "MA%25", "MA\t", "MA.", "MAAAA",
            String(repeating: "A", count: 4 * ((10 * 1024 + 2) / 3)), String(repeating: "A", count: 4 * ((10 * 1024 + 2) / 3) + 4),
        ]
        for text in cases {
            #expect(Base64Path.decode(Substring(text)) == Self.reference(text), "\(text.prefix(40))")
        }
        #expect(Base64Path.decode(Substring(plain)) == der)
        for text in ["=", "MA===", "MA=A", "===="] { #expect(Base64Path.decode(Substring(text)) == nil, "\(text)") }
        // every short string over an alphabet with the special cases
        let alphabet = ["A", "w", "+", "/", "-", "_", " ", "=", "%2B", "%3D", "%2", "*"]
        var texts = [""]
        for _ in 0..<4 { texts = texts.flatMap { text in alphabet.map { text + $0 } } }
        for text in texts where !text.isEmpty {
            // Foundation decodes padding followed by more data ("AA=A" as [0, 0]) and all-padding
            // ("====" as [0]); neither is base64 (RFC 4648 §3.3), and both are refused now.
            let plain = text.removingPercentEncoding ?? ""
            if let pad = plain.firstIndex(of: "="), plain[pad...].contains(where: { $0 != "=" }) || pad == plain.startIndex {
                #expect(Base64Path.decode(Substring(text)) == nil, "\(text)")
                continue
            }
            #expect(Base64Path.decode(Substring(text)) == Self.reference(text), "\(text)")
        }
    }

    @Test("a CertID's serial hex is SerialNumber.canonicalHex of its magnitude")
    func serialHex() {
        var serials: [[UInt8]] = [[], [0], [0, 0], [1], [0x0f], [0x10], [0x80], [0, 0x80], [0, 0, 1, 2], [0xff, 0xee]]
        serials += (1...21).map { length in (0..<length).map { UInt8(($0 * 53 + length) % 256) } }
        serials += (1...21).map { [0] + Array(repeating: 0x0a, count: $0) }
        for serial in serials {
            let id = OCSPCertID(hashAlgorithm: .sha1, issuerNameHash: [], issuerKeyHash: [], serialNumber: serial)
            let expected = serial.first.flatMap { SerialNumber.canonicalHex(ofDERInteger: $0 & 0x80 == 0 ? serial : [0] + serial) }
            #expect(id.serialHex == expected, "\(serial)")
        }
    }

    @Test("the rate limit keys a TCP peer's socket address like its address text")
    func peerSource() throws {
        for prefix in [0, 48, 64, 100, 128] {
            let limiter = RateLimiter(limitPerMinute: 1, ipv6Prefix: prefix)
            for text in ["192.0.2.1", "10.255.0.7", "::1", "2001:db8:1:2:3:4:5:6", "::ffff:192.0.2.1", "fe80::1", "::"] {
                let peer = try SocketAddress(ipAddress: text, port: 443)
                #expect(limiter.source(peer: peer) == limiter.source(text), "\(text) /\(prefix)")
            }
            #expect(limiter.source(peer: nil) == limiter.source("unknown"))
        }
    }
}
