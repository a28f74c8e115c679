/// Appends DER encodings straight into a byte array, without building an
/// ASN.1 node tree: a CRL with a million entries is written in one pass.
public enum DERWriter {
    public static let sequence: UInt8 = 0x30
    public static let integer: UInt8 = 0x02
    public static let octetString: UInt8 = 0x04
    public static let enumerated: UInt8 = 0x0a
    public static let utcTime: UInt8 = 0x17
    public static let generalizedTime: UInt8 = 0x18
    public static let bitString: UInt8 = 0x03

    /// Octets a DER length field takes.
    @inlinable
    public static func lengthSize(_ length: Int) -> Int {
        if length < 0x80 { return 1 }
        var size = 1
        var rest = length
        while rest > 0 { size += 1; rest >>= 8 }
        return size
    }

    /// Octets of a whole TLV whose content is `length` octets (single-octet tags).
    @inlinable
    public static func tlvSize(_ length: Int) -> Int { 1 + lengthSize(length) + length }

    @inlinable
    public static func appendHeader(_ tag: UInt8, length: Int, to out: inout [UInt8]) {
        out.append(tag)
        if length < 0x80 {
            out.append(UInt8(length))
            return
        }
        let octets = lengthSize(length) - 1
        out.append(0x80 | UInt8(octets))
        for shift in stride(from: (octets - 1) * 8, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: length >> shift))
        }
    }

    /// Writes a header into `out` at `index` (the caller reserved the space).
    public static func writeHeader(_ tag: UInt8, length: Int, into out: inout [UInt8], at index: Int) -> Int {
        var header: [UInt8] = []
        appendHeader(tag, length: length, to: &header)
        out.replaceSubrange(index..<index + header.count, with: header)
        return header.count
    }

    @inlinable
    public static func append(_ tag: UInt8, content: some Collection<UInt8>, to out: inout [UInt8]) {
        appendHeader(tag, length: content.count, to: &out)
        out.append(contentsOf: content)
    }

    /// Content octets of a non-negative INTEGER with this big-endian magnitude.
    public static func unsignedIntegerContent(_ magnitude: some Collection<UInt8>) -> [UInt8] {
        let trimmed = Array(magnitude.drop { $0 == 0 })
        guard let first = trimmed.first else { return [0] }
        return first & 0x80 != 0 ? [0] + trimmed : trimmed
    }

    /// Big-endian magnitude of a non-negative decimal number (for numeric SQL columns); nil if not decimal.
    public static func magnitude(decimal text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var bytes: [UInt8] = [0]
        for digit in text.utf8 {
            var carry = Int(digit - 48)
            for index in bytes.indices.reversed() {
                let value = Int(bytes[index]) * 10 + carry
                bytes[index] = UInt8(value & 0xff)
                carry = value >> 8
            }
            while carry > 0 { bytes.insert(UInt8(carry & 0xff), at: 0); carry >>= 8 }
        }
        return Array(bytes.drop { $0 == 0 })
    }
}
