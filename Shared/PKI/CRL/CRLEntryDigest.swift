import Crypto

/// What a TBSCertList's revokedCertificates say, reduced to a count and one
/// digest that the signer compares with its own read of the revocation log.
///
/// The digest is SHA-256 over one line per entry, `serial revokedAt reason
/// invalidity` (serial as canonical lowercase hex, times as Unix seconds,
/// reason 0 when the entry carries none, invalidity `-` when absent), lines
/// joined by `\n`. Entries must come in strictly ascending serial text order
/// (byte order of the hex, Postgres `COLLATE "C"`), so each side can digest
/// them as they stream by. An entry extension other than reasonCode and
/// invalidityDate, a malformed entry or a repeated serial is an error.
///
///     revokedCertificates  SEQUENCE OF SEQUENCE {
///          userCertificate         CertificateSerialNumber,
///          revocationDate          Time,
///          crlEntryExtensions      Extensions OPTIONAL }
public struct CRLEntryDigest: Sendable, Equatable {
    public let count: Int
    public let sha256: [UInt8]

    public init(count: Int, sha256: [UInt8]) {
        self.count = count
        self.sha256 = sha256
    }

    static let reasonCodeOID: [UInt8] = [0x06, 0x03, 0x55, 0x1d, 0x15]
    static let invalidityDateOID: [UInt8] = [0x06, 0x03, 0x55, 0x1d, 0x18]
    static let hexDigits = Array("0123456789abcdef".utf8)

    /// Digests the entries of a DER TBSCertList.
    public init(tbsCertList bytes: [UInt8]) throws(PKIError) {
        var outer = DERReader(bytes)
        var reader = outer.inside(try outer.next(DERWriter.sequence, "TBSCertList"))
        if reader.peekTag() == DERWriter.integer { _ = try reader.next() }  // version
        _ = try reader.next(DERWriter.sequence, "signature algorithm")
        _ = try reader.next(DERWriter.sequence, "issuer")
        _ = try reader.next()  // thisUpdate
        if let tag = reader.peekTag(), tag == DERWriter.utcTime || tag == DERWriter.generalizedTime { _ = try reader.next() }
        var hasher = SHA256()
        var count = 0
        var line: [UInt8] = []
        var previousSerial: [UInt8] = []
        var serial: [UInt8] = []
        line.reserveCapacity(96)
        if reader.peekTag() == DERWriter.sequence {
            var entries = reader.inside(try reader.next())
            while !entries.isAtEnd {
                var entry = entries.inside(try entries.next(DERWriter.sequence, "revoked entry"))
                let integer = try entry.next(DERWriter.integer, "revoked entry serial")
                try Self.canonicalHex(bytes[integer.content], into: &serial)
                guard count == 0 || Self.precedes(previousSerial, serial) else {
                    throw PKIError.malformedTBS("revoked entries are not in strictly ascending serial order at entry \(count + 1)")
                }
                let time = try entry.next()
                guard time.tag == DERWriter.utcTime || time.tag == DERWriter.generalizedTime,
                      let revokedAt = DERTime.parse(tag: time.tag, Array(bytes[time.content])) else {
                    throw PKIError.malformedTBS("revoked entry \(count + 1): bad revocationDate")
                }
                var reason = 0
                var invalidity: Int64?
                if !entry.isAtEnd {
                    var extensions = entry.inside(try entry.next(DERWriter.sequence, "crlEntryExtensions"))
                    guard entry.isAtEnd, !extensions.isAtEnd else { throw PKIError.malformedTBS("revoked entry \(count + 1): bad extensions") }
                    while !extensions.isAtEnd {
                        var ext = extensions.inside(try extensions.next(DERWriter.sequence, "entry extension"))
                        let oid = Array(bytes[try ext.next(0x06, "entry extension id").range])
                        if ext.peekTag() == 0x01 { _ = try ext.next() }  // critical
                        var value = DERReader(bytes, range: try ext.next(DERWriter.octetString, "entry extension value").content)
                        guard ext.isAtEnd else { throw PKIError.malformedTBS("revoked entry \(count + 1): bad extension") }
                        if oid == Self.reasonCodeOID, reason == 0 {
                            let code = try value.next(DERWriter.enumerated, "reasonCode")
                            guard code.content.count == 1, value.isAtEnd else { throw PKIError.malformedTBS("reasonCode") }
                            reason = Int(bytes[code.content.lowerBound])
                            guard (1...10).contains(reason), reason != 7 else { throw PKIError.malformedTBS("reasonCode \(reason)") }
                        } else if oid == Self.invalidityDateOID, invalidity == nil {
                            let date = try value.next(DERWriter.generalizedTime, "invalidityDate")
                            guard value.isAtEnd, let seconds = DERTime.parse(tag: date.tag, Array(bytes[date.content])) else {
                                throw PKIError.malformedTBS("invalidityDate")
                            }
                            invalidity = seconds
                        } else {
                            throw PKIError.malformedTBS("revoked entry \(count + 1): extension not allowed or repeated")
                        }
                    }
                }
                line.removeAll(keepingCapacity: true)
                if count > 0 { line.append(UInt8(ascii: "\n")) }
                line.append(contentsOf: serial)
                line.append(UInt8(ascii: " "))
                Self.appendDecimal(revokedAt, to: &line)
                line.append(UInt8(ascii: " "))
                Self.appendDecimal(Int64(reason), to: &line)
                line.append(UInt8(ascii: " "))
                if let invalidity { Self.appendDecimal(invalidity, to: &line) } else { line.append(UInt8(ascii: "-")) }
                hasher.update(data: line)
                swap(&previousSerial, &serial)
                count += 1
            }
        }
        self.count = count
        self.sha256 = Array(hasher.finalize())
    }

    /// Lowercase hex of a positive DER INTEGER's value, without leading zeros.
    static func canonicalHex(_ content: ArraySlice<UInt8>, into out: inout [UInt8]) throws(PKIError) {
        out.removeAll(keepingCapacity: true)
        guard let first = content.first, first & 0x80 == 0 else { throw PKIError.malformedTBS("revoked entry serial is not positive") }
        let magnitude = content.drop(while: { $0 == 0 })
        guard !magnitude.isEmpty, magnitude.count <= 20 else { throw PKIError.malformedTBS("revoked entry serial is zero or too long") }
        for (index, byte) in magnitude.enumerated() {
            if !(index == 0 && byte >> 4 == 0) { out.append(hexDigits[Int(byte >> 4)]) }
            out.append(hexDigits[Int(byte & 0x0f)])
        }
    }

    /// `a < b` in byte order (Postgres `COLLATE "C"` on the hex text).
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: [UInt8] = []
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out.append(contentsOf: digits.reversed())
    }
}
