/// Lowercase hexadecimal text of bytes, both ways: digests in ETags and
/// ledgers, stored hashes, generated secrets, 64-digit keys in variables.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Bytes of an even-length hex text (either case); nil otherwise.
    public static func bytes(_ text: String) -> [UInt8]? {
        guard text.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    /// `octets` random bytes as hex (secrets, MIME boundaries).
    public static func random(octets: Int) -> String {
        string((0..<octets).map { _ in UInt8.random(in: 0...255) })
    }
}
