/// The request of an RFC 6960 A.1 GET: URL-encoded base64 of the DER, decoded
/// in one pass over the path's bytes (this is on every GET). Lenient the way
/// clients need: percent-escapes anywhere, a space (a mangled '+') read as '+',
/// the base64url alphabet, missing padding. Nil for anything else: a bad
/// escape, a character outside base64, padding before the end, an impossible
/// length, or more than a request body may hold.
package enum Base64Path {
    /// Longest base64 text accepted (the POST body limit, encoded).
    static let maximumCharacters = 4 * ((OCSPRoutes.maximumBody + 2) / 3)

    package static func decode(_ text: Substring) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(bytes: $0) }
    }

    static func decode(bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard bytes.count <= 3 * maximumCharacters else { return nil }  // each character at most a 3-byte escape
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 4 + 2)
        var accumulator: UInt32 = 0
        var sextets = 0, padding = 0, index = 0
        while index < bytes.count {
            var byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "%") {
                guard index + 1 < bytes.count, let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else {
                    return nil
                }
                byte = high << 4 | low
                index += 2
            }
            if byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0, let value = sextet(byte) else { return nil }  // nothing may follow padding
            accumulator = accumulator << 6 | UInt32(value)
            sextets += 1
            if sextets & 3 == 0 {
                out.append(UInt8(truncatingIfNeeded: accumulator >> 16))
                out.append(UInt8(truncatingIfNeeded: accumulator >> 8))
                out.append(UInt8(truncatingIfNeeded: accumulator))
                accumulator = 0
            }
        }
        // Padding may be short (the rest is added) but never more than the length needs.
        let remainder = sextets & 3, needed = (4 - remainder) & 3
        guard remainder != 1, padding <= needed, sextets + needed <= maximumCharacters else { return nil }
        switch remainder {
        case 2: out.append(UInt8(truncatingIfNeeded: accumulator >> 4))
        case 3:
            out.append(UInt8(truncatingIfNeeded: accumulator >> 10))
            out.append(UInt8(truncatingIfNeeded: accumulator >> 2))
        default: break
        }
        return out
    }

    private static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: " "), UInt8(ascii: "-"): return 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
        default: return nil
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
