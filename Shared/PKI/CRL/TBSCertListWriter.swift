import NIOCore

/// One certificate as a CRL lists it (RFC 5280 §5.1.2.6, §5.3).
public struct RevokedEntry: Sendable {
    /// Canonical lowercase hex of the serial (SerialNumber's form).
    public var serialHex: String
    /// Unix seconds.
    public var revokedAt: Int64
    /// CRLReason; nil or 0 (unspecified) is omitted, as RFC 5280 §5.3.1 asks.
    public var reasonCode: Int?
    public var invalidityDate: Int64?

    public init(serialHex: String, revokedAt: Int64, reasonCode: Int?, invalidityDate: Int64?) {
        self.serialHex = serialHex
        self.revokedAt = revokedAt
        self.reasonCode = reasonCode
        self.invalidityDate = invalidityDate
    }
}

/// Everything in a TBSCertList except its entries.
public struct CRLHeader: Sendable {
    public var signatureAlgorithmDER: [UInt8]
    /// The issuer Name exactly as in the CA certificate's subject.
    public var issuerNameDER: [UInt8]
    public var thisUpdate: Int64
    public var nextUpdate: Int64
    /// Big-endian magnitude of the CRL Number.
    public var crlNumber: [UInt8]
    /// The CA's subject key identifier.
    public var authorityKeyIdentifier: [UInt8]

    public init(signatureAlgorithmDER: [UInt8], issuerNameDER: [UInt8], thisUpdate: Int64, nextUpdate: Int64,
                crlNumber: [UInt8], authorityKeyIdentifier: [UInt8]) {
        self.signatureAlgorithmDER = signatureAlgorithmDER
        self.issuerNameDER = issuerNameDER
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.crlNumber = crlNumber
        self.authorityKeyIdentifier = authorityKeyIdentifier
    }
}

/// Streams revoked entries into a v2 TBSCertList. Entries go straight into
/// one buffer that keeps room in front for the headers, so the finished
/// CRL (TBS, then signature) never exists twice in memory.
public struct TBSCertListWriter {
    /// A NIO ByteBuffer: the finished CRL is served from this same storage, never copied.
    var buffer: ByteBuffer
    /// One entry is composed here, then written to `buffer` in one copy.
    var scratch: [UInt8] = []
    let header: CRLHeader
    let reserve: Int
    public private(set) var count = 0

    /// Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED <reason> } } up to the reason octet.
    static let reasonCodePrefix: [UInt8] = [0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01]
    /// Extension { id-ce-invalidityDate, OCTET STRING { GeneralizedTime } } up to the time.
    static let invalidityDatePrefix: [UInt8] = [0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11]
    static let authorityKeyIdentifierOID: [UInt8] = [0x06, 0x03, 0x55, 0x1d, 0x23]
    static let crlNumberOID: [UInt8] = [0x06, 0x03, 0x55, 0x1d, 0x14]

    public init(header: CRLHeader, expectedEntries: Int = 0) throws(PKIError) {
        guard DERWriter.unsignedIntegerContent(header.crlNumber).count <= 20 else {
            throw PKIError.malformedTBS("CRL Number longer than 20 octets")
        }
        guard header.nextUpdate > header.thisUpdate else { throw PKIError.malformedTBS("nextUpdate must follow thisUpdate") }
        self.header = header
        // CertificateList and TBSCertList headers, version, algorithm, issuer, two times, entries header
        reserve = 6 + 6 + 3 + header.signatureAlgorithmDER.count + header.issuerNameDER.count + 17 + 17 + 6
        // Capacity for the largest possible entries: the buffer never grows (growing copies it
        // while the old one is still held), and pages a smaller CRL never writes stay unmapped.
        buffer = ByteBufferAllocator().buffer(capacity: reserve + expectedEntries * Self.maxEntryBytes + 512)
        buffer.writeRepeatingByte(0, count: reserve)
        scratch.reserveCapacity(Self.maxEntryBytes)
    }

    /// SEQUENCE header (2) + INTEGER serial of 20 octets (23) + UTCTime (15) + extensions
    /// SEQUENCE header (2) + reason code (12) + invalidity date (26).
    static let maxEntryBytes = 80

    public mutating func append(_ entry: RevokedEntry) throws(PKIError) {
        let digits = Array(entry.serialHex.utf8)
        try digits.withUnsafeBufferPointer { (hex) throws(PKIError) in
            try append(serialHex: hex, revokedAt: entry.revokedAt, reasonCode: entry.reasonCode,
                       invalidityDate: entry.invalidityDate)
        }
    }

    /// The same from the serial's hex digits as bytes (a slice of a database
    /// reply, without a String or a generic collection per entry).
    public mutating func append(
        serialHex hex: UnsafeBufferPointer<UInt8>, revokedAt: Int64, reasonCode: Int?, invalidityDate: Int64?
    ) throws(PKIError) {
        guard (1...40).contains(hex.count), hex.first != UInt8(ascii: "0"),
              hex.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw PKIError.malformedTBS("serial \(String(decoding: hex, as: UTF8.self)) is not canonical hex")
        }
        let serialOctets = (hex.count + 1) / 2
        var firstOctet = 0
        var index = hex.startIndex
        if hex.count % 2 == 1 {
            firstOctet = try Self.nibble(hex[index])
        } else {
            firstOctet = try Self.nibble(hex[index]) << 4 | Self.nibble(hex[hex.index(after: index)])
        }
        let pad = firstOctet & 0x80 != 0 ? 1 : 0
        let integerLength = serialOctets + pad
        let reason = reasonCode.flatMap { $0 == 0 ? nil : $0 }
        if let reason, !(1...10).contains(reason) || reason == 7 { throw PKIError.malformedTBS("reason code \(reason)") }
        let extensionsContent = (reason == nil ? 0 : 12) + (invalidityDate == nil ? 0 : 26)
        let content = 2 + integerLength + DERTime.encodedSize(revokedAt)
            + (extensionsContent == 0 ? 0 : 2 + extensionsContent)

        scratch.removeAll(keepingCapacity: true)
        scratch.append(DERWriter.sequence)
        scratch.append(UInt8(content))  // at most 2+21+17+2+38 < 128
        scratch.append(DERWriter.integer)
        scratch.append(UInt8(integerLength))
        if pad == 1 { scratch.append(0) }
        if hex.count % 2 == 1 {
            scratch.append(UInt8(firstOctet))
            index = hex.index(after: index)
        }
        while index != hex.endIndex {
            let next = hex.index(after: index)
            scratch.append(UInt8(try Self.nibble(hex[index]) << 4 | Self.nibble(hex[next])))
            index = hex.index(after: next)
        }
        DERTime.appendTime(revokedAt, to: &scratch)
        if extensionsContent > 0 {
            scratch.append(DERWriter.sequence)
            scratch.append(UInt8(extensionsContent))
            if let reason {
                scratch.append(contentsOf: Self.reasonCodePrefix)
                scratch.append(UInt8(reason))
            }
            if let invalidity = invalidityDate {
                scratch.append(contentsOf: Self.invalidityDatePrefix)
                DERTime.appendGeneralizedTime(invalidity, to: &scratch)
            }
        }
        buffer.writeBytes(scratch)
        count += 1
    }

    @inline(__always)
    static func nibble(_ character: UInt8) throws(PKIError) -> Int {
        switch character {
        case 48...57: return Int(character - 48)
        case 97...102: return Int(character - 87)
        default: throw PKIError.malformedTBS("serial is not lowercase hex")
        }
    }

    /// Closes the TBSCertList; the result is signed with `UnsignedCRL.tbs`.
    public mutating func finish() -> UnsignedCRL {
        let entriesLength = buffer.writerIndex - reserve
        var extensions: [UInt8] = []
        var aki: [UInt8] = []
        DERWriter.append(0x80, content: header.authorityKeyIdentifier, to: &aki)
        var akiValue: [UInt8] = []
        DERWriter.append(DERWriter.sequence, content: aki, to: &akiValue)
        var akiExtension = Self.authorityKeyIdentifierOID
        DERWriter.append(DERWriter.octetString, content: akiValue, to: &akiExtension)
        DERWriter.append(DERWriter.sequence, content: akiExtension, to: &extensions)
        var number: [UInt8] = []
        DERWriter.append(DERWriter.integer, content: DERWriter.unsignedIntegerContent(header.crlNumber), to: &number)
        var numberExtension = Self.crlNumberOID
        DERWriter.append(DERWriter.octetString, content: number, to: &numberExtension)
        DERWriter.append(DERWriter.sequence, content: numberExtension, to: &extensions)
        var extensionsSequence: [UInt8] = []
        DERWriter.append(DERWriter.sequence, content: extensions, to: &extensionsSequence)
        var tail: [UInt8] = []
        DERWriter.append(0xa0, content: extensionsSequence, to: &tail)

        var fields: [UInt8] = [DERWriter.integer, 0x01, 0x01]  // v2
        fields += header.signatureAlgorithmDER
        fields += header.issuerNameDER
        DERTime.appendTime(header.thisUpdate, to: &fields)
        DERTime.appendTime(header.nextUpdate, to: &fields)
        if count > 0 { DERWriter.appendHeader(DERWriter.sequence, length: entriesLength, to: &fields) }
        var prefix: [UInt8] = []
        DERWriter.appendHeader(DERWriter.sequence, length: fields.count + entriesLength + tail.count, to: &prefix)
        prefix += fields
        let start = reserve - prefix.count
        // Take the storage out of self first: with a second reference (a caller's copy of
        // the writer), the in-place edits below would copy the whole CRL.
        var storage = buffer
        buffer = ByteBuffer()
        storage.setBytes(prefix, at: start)
        storage.writeBytes(tail)
        return UnsignedCRL(buffer: storage, tbsStart: start, revokedCount: count)
    }
}

/// A finished TBSCertList waiting for its signature, with room in front of
/// it for the CertificateList header.
public struct UnsignedCRL {
    var buffer: ByteBuffer
    let tbsStart: Int
    public let revokedCount: Int

    /// The DER TBSCertList (a view of the same storage).
    public var tbs: ByteBuffer { buffer.getSlice(at: tbsStart, length: buffer.writerIndex - tbsStart)! }

    /// The DER CertificateList: SEQUENCE { tbsCertList, signatureAlgorithm, BIT STRING signature }.
    /// The result's readable bytes are the CertificateList, in the writer's storage.
    public mutating func signed(signatureAlgorithmDER: [UInt8], signature: [UInt8]) -> ByteBuffer {
        let tbsLength = buffer.writerIndex - tbsStart
        var bitString: [UInt8] = []
        DERWriter.appendHeader(DERWriter.bitString, length: signature.count + 1, to: &bitString)
        bitString.append(0)  // no unused bits
        bitString += signature
        var header: [UInt8] = []
        DERWriter.appendHeader(DERWriter.sequence, length: tbsLength + signatureAlgorithmDER.count + bitString.count, to: &header)
        let start = tbsStart - header.count
        var storage = buffer  // as in finish(): edit the only reference, in place
        buffer = ByteBuffer()
        storage.setBytes(header, at: start)
        storage.writeBytes(signatureAlgorithmDER)
        storage.writeBytes(bitString)
        storage.moveReaderIndex(to: start)
        return storage
    }
}
