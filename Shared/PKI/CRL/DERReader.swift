/// Walks DER tag-length-value headers without decoding contents, so a CRL
/// with a million entries can be checked without an ASN.1 node per field.
/// Single-octet tags only (all X.509/CRL structures certctl reads).
public struct DERReader {
    public struct Element {
        public let tag: UInt8
        /// Range of the whole TLV in the reader's bytes.
        public let range: Range<Int>
        /// Range of the content octets.
        public let content: Range<Int>
    }

    let bytes: [UInt8]
    public private(set) var position: Int
    let end: Int

    public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    public var isAtEnd: Bool { position >= end }

    public func peekTag() -> UInt8? { position < end ? bytes[position] : nil }

    /// The next TLV; advances past it.
    public mutating func next() throws(PKIError) -> Element {
        let start = position
        guard end - start >= 2 else { throw PKIError.malformedTBS("truncated DER at offset \(start)") }
        let tag = bytes[start]
        guard tag & 0x1f != 0x1f else { throw PKIError.malformedTBS("multi-octet tag at offset \(start)") }
        var cursor = start + 1
        let first = Int(bytes[cursor])
        cursor += 1
        var length = 0
        if first < 0x80 {
            length = first
        } else {
            let octets = first & 0x7f
            guard (1...4).contains(octets), end - cursor >= octets else {
                throw PKIError.malformedTBS("bad length at offset \(start)")
            }
            for _ in 0..<octets { length = length << 8 | Int(bytes[cursor]); cursor += 1 }
            // DER: minimal length encoding
            guard length >= 0x80, bytes[start + 2] != 0 else { throw PKIError.malformedTBS("non-minimal length at offset \(start)") }
        }
        guard length <= end - cursor else { throw PKIError.malformedTBS("length runs past the end at offset \(start)") }
        position = cursor + length
        return Element(tag: tag, range: start..<position, content: cursor..<position)
    }

    /// The next TLV, which must carry `tag`.
    public mutating func next(_ tag: UInt8, _ what: String) throws(PKIError) -> Element {
        let element = try next()
        guard element.tag == tag else { throw PKIError.malformedTBS("\(what): unexpected tag 0x\(String(element.tag, radix: 16))") }
        return element
    }

    /// A reader over an element's content.
    public func inside(_ element: Element) -> DERReader {
        DERReader(bytes, range: element.content)
    }
}
