/// Certificate serial numbers in certctl's one canonical form: lowercase hex
/// of the positive integer, no leading zeros, at most 20 octets. The store,
/// the API, OCSP lookups and CRLs all use this form.
public enum SerialNumber {
    /// A fresh serial: 20 octets, first octet 0x01–0x7f (positive, exactly 20
    /// octets in DER), the other 19 random: 159 random bits in all.
    public static func random() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[0] = UInt8.random(in: 0x01...0x7f, using: &generator)
        return bytes
    }

    /// Canonical hex of DER INTEGER content octets; nil for zero or negative.
    public static func canonicalHex<Bytes: Collection>(ofDERInteger bytes: Bytes) -> String? where Bytes.Element == UInt8 {
        guard let first = bytes.first, first & 0x80 == 0 else { return nil }
        let significant = bytes.drop { $0 == 0 }
        guard !significant.isEmpty, significant.count <= 20 else { return nil }
        var hex = significant.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        while hex.hasPrefix("0") { hex.removeFirst() }
        return hex
    }

    /// Normalises operator input: any case, optional `0x`, colons or spaces,
    /// leading zeros. Nil when it is not a positive number of at most 20 octets.
    public static func canonicalize(_ input: String) -> String? {
        var text = input.lowercased().filter { $0 != ":" && $0 != " " }
        if text.hasPrefix("0x") { text.removeFirst(2) }
        guard !text.isEmpty, text.allSatisfy(\.isHexDigit) else { return nil }
        while text.hasPrefix("0") { text.removeFirst() }
        guard !text.isEmpty, text.count <= 40 else { return nil }
        // 40 hex digits are 20 octets only if the top bit is clear (positive in DER).
        if text.count == 40, let first = text.first?.hexDigitValue, first >= 8 { return nil }
        return text
    }

    /// DER INTEGER content octets for a canonical hex serial.
    public static func derBytes(fromCanonicalHex hex: String) -> [UInt8] {
        let padded = hex.count.isMultiple(of: 2) ? hex : "0" + hex
        var bytes: [UInt8] = []
        var index = padded.startIndex
        while index < padded.endIndex {
            let next = padded.index(index, offsetBy: 2)
            bytes.append(UInt8(padded[index..<next], radix: 16) ?? 0)
            index = next
        }
        if let first = bytes.first, first & 0x80 != 0 { bytes.insert(0, at: 0) }
        return bytes
    }
}
