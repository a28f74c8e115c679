import CertctlPKI
import CertctlRuntime
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509

@Suite("CRL encoding")
struct CRLEncodingTests {
    @Test("DER times match Foundation's calendar, switch to GeneralizedTime outside 1950-2049, and parse back",
          arguments: [Int64(-631_152_000), 0, 951_782_400, 1_796_000_123, 2_524_607_999, 2_524_608_000, 4_102_444_800])
    func times(seconds: Int64) throws {
        var out: [UInt8] = []
        DERTime.appendTime(seconds, to: &out)
        let calendar = Calendar(identifier: .gregorian)
        let parts = calendar.dateComponents(in: TimeZone(identifier: "UTC")!, from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        let year = parts.year!
        let expected = String(format: "%02d%02d%02d%02d%02dZ", parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!)
        if (1950...2049).contains(year) {
            #expect(out[0] == 0x17 && out.count == 15)
            #expect(String(decoding: out[2...], as: UTF8.self) == String(format: "%02d", year % 100) + expected)
        } else {
            #expect(out[0] == 0x18 && out.count == 17)
            #expect(String(decoding: out[2...], as: UTF8.self) == String(format: "%04d", year) + expected)
        }
        #expect(DERTime.encodedSize(seconds) == out.count)
        #expect(DERTime.parse(tag: out[0], Array(out[2...])) == seconds)
        // swift-asn1 accepts the encoding
        let node = try DER.parse(out)
        if out[0] == 0x17 { _ = try UTCTime(derEncoded: node) } else { _ = try GeneralizedTime(derEncoded: node) }
    }

    static func sampleHeader(key: P256.Signing.PrivateKey, entries: Int = 0) throws -> CRLHeader {
        var subject: [UInt8] = []
        var serializer = DER.Serializer()
        try serializer.serialize(try DistinguishedName { CommonName("certctl unit CA") })
        subject = serializer.serializedBytes
        return CRLHeader(
            signatureAlgorithmDER: try SignatureAlgorithmIdentifier.der(.ecdsaWithSHA256), issuerNameDER: subject,
            thisUpdate: 1_796_000_000, nextUpdate: 1_796_014_400, crlNumber: [0x01, 0x00], authorityKeyIdentifier: [1, 2, 3, 4])
    }

    @Test("a streamed CRL parses strictly, carries every entry and field, and verifies")
    func roundTrip() throws {
        let key = P256.Signing.PrivateKey()
        let header = try Self.sampleHeader(key: key)
        var writer = try TBSCertListWriter(header: header)
        let entries = [
            RevokedEntry(serialHex: "1", revokedAt: 1_795_000_000, reasonCode: nil, invalidityDate: nil),
            RevokedEntry(serialHex: "ff", revokedAt: 1_795_000_001, reasonCode: 1, invalidityDate: 1_794_000_000),
            RevokedEntry(serialHex: "7fabc", revokedAt: 1_795_000_002, reasonCode: 0, invalidityDate: nil),
            RevokedEntry(serialHex: String(repeating: "f", count: 40), revokedAt: 2_600_000_000, reasonCode: 6, invalidityDate: nil),
        ]
        for entry in entries { try writer.append(entry) }
        var unsigned = writer.finish()
        let tbs = Array(buffer: unsigned.tbs)
        let signature = try key.signature(for: tbs).derRepresentation
        let der = Array(buffer: unsigned.signed(signatureAlgorithmDER: header.signatureAlgorithmDER, signature: Array(signature)))

        let fields = try CertificateListFields(derEncoded: der)
        #expect(fields.tbs.revokedCount == entries.count)
        #expect(fields.tbs.crlNumber == [0x01, 0x00])
        #expect(fields.tbs.authorityKeyIdentifier == [1, 2, 3, 4])
        #expect(fields.tbs.issuerNameDER == header.issuerNameDER)
        #expect(fields.tbs.thisUpdate == Date(timeIntervalSince1970: 1_796_000_000))
        #expect(fields.tbs.nextUpdate == Date(timeIntervalSince1970: 1_796_014_400))
        #expect(Array(der[fields.tbsRange]) == tbs)
        let publicKey = try P256.Signing.PublicKey(derRepresentation: key.publicKey.derRepresentation)
        #expect(publicKey.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: fields.signature), for: tbs))

        // swift-asn1's strict DER parser walks the whole structure; the serials decode as positive INTEGERs
        let root = try DER.parse(der)
        guard case .constructed(let top) = root.content, case .constructed(let tbsNodes) = Array(top)[0].content else {
            Issue.record("not constructed"); return
        }
        let list = Array(tbsNodes)[5]
        guard case .constructed(let entryNodes) = list.content else { Issue.record("no entries"); return }
        let serials = try entryNodes.map { node -> String in
            guard case .constructed(let parts) = node.content else { throw PKIError.malformedTBS("entry") }
            let integer = try ArraySlice<UInt8>(derEncoded: Array(parts)[0])
            return integer.drop { $0 == 0 }.map { String(format: "%02x", $0) }.joined()
        }
        #expect(serials == ["01", "ff", "07fabc", String(repeating: "f", count: 40)])
        let reasons = entryNodes.map { Array($0.encodedBytes) }.map { $0.contains(0x15) && $0.count > 20 }
        #expect(reasons == [false, true, false, true], "reason omitted for nil and unspecified")
    }

    @Test("an empty CRL omits revokedCertificates; a full one lists every entry in one SEQUENCE before the extensions",
          arguments: [0, 50_000])
    func sizes(count: Int) throws {
        let header = try Self.sampleHeader(key: P256.Signing.PrivateKey())
        var writer = try TBSCertListWriter(header: header, expectedEntries: count)
        for i in 0..<count {
            try writer.append(RevokedEntry(serialHex: String(i + 1, radix: 16), revokedAt: 1_795_000_000 + Int64(i),
                                           reasonCode: i % 11 == 7 ? nil : i % 11, invalidityDate: nil))
        }
        let tbs = Array(buffer: writer.finish().tbs)
        let fields = try TBSCertListFields(tbs)
        #expect(fields.revokedCount == count)
        // the fields of the TBSCertList, by tag: version, signature, issuer, thisUpdate, nextUpdate, [revokedCertificates,] [0] extensions
        var outer = DERReader(tbs)
        var reader = outer.inside(try outer.next(DERWriter.sequence, "TBSCertList"))
        var tags: [UInt8] = []
        var revoked: DERReader.Element?
        while !reader.isAtEnd {
            let element = try reader.next()
            if tags.count == 5, element.tag == DERWriter.sequence { revoked = element }
            tags.append(element.tag)
        }
        let fieldTags: [UInt8] = [DERWriter.integer, DERWriter.sequence, DERWriter.sequence, DERWriter.utcTime, DERWriter.utcTime]
        if count == 0 {
            #expect(tags == fieldTags + [0xa0], "no empty revokedCertificates SEQUENCE (RFC 5280 §5.1.2.6)")
        } else {
            #expect(tags == fieldTags + [DERWriter.sequence, 0xa0])
            var entries = DERReader(tbs, range: try #require(revoked).content)
            var listed = 0
            while !entries.isAtEnd { _ = try entries.next(DERWriter.sequence, "entry"); listed += 1 }
            #expect(listed == count)
        }
        _ = try DER.parse(tbs)
    }

    @Test("serials and reasons the encoder refuses leave the buffer unchanged",
          arguments: ["", "0a", "ABC", "xyz", String(repeating: "1", count: 41)])
    func badSerial(serial: String) throws {
        var writer = try TBSCertListWriter(header: try Self.sampleHeader(key: P256.Signing.PrivateKey()))
        #expect(throws: PKIError.self) { try writer.append(RevokedEntry(serialHex: serial, revokedAt: 0, reasonCode: nil, invalidityDate: nil)) }
        #expect(throws: PKIError.self) { try writer.append(RevokedEntry(serialHex: "1", revokedAt: 0, reasonCode: 7, invalidityDate: nil)) }
        #expect(writer.count == 0)
        #expect(try TBSCertListFields(Array(buffer: writer.finish().tbs)).revokedCount == 0)
    }

    @Test("the field reader rejects truncated and trailing bytes")
    func malformed() throws {
        var writer = try TBSCertListWriter(header: try Self.sampleHeader(key: P256.Signing.PrivateKey()))
        try writer.append(RevokedEntry(serialHex: "abc", revokedAt: 1_795_000_000, reasonCode: nil, invalidityDate: nil))
        let tbs = Array(buffer: writer.finish().tbs)
        #expect(throws: PKIError.self) { try TBSCertListFields(Array(tbs.dropLast())) }
        #expect(throws: PKIError.self) { try TBSCertListFields(tbs + [0]) }
        #expect(throws: PKIError.self) { try CertificateListFields(derEncoded: tbs) }
        #expect(throws: PKIError.self) { try TBSCertListFields([0x30, 0x84, 0, 0, 0, 1, 0]) }  // non-minimal length
    }

    @Test("CRL numbers: decimal text to INTEGER and back", arguments: ["1", "255", "256", "18446744073709551616", "1461501637330902918203684832716283019655932542975"])
    func numbers(decimal: String) throws {
        let magnitude = try #require(DERWriter.magnitude(decimal: decimal))
        #expect(TBSCertListSummary.decimal(DERWriter.unsignedIntegerContent(magnitude)) == decimal)
        #expect(DERWriter.magnitude(decimal: "12a") == nil)
    }

    @Test("HTTP dates and If-None-Match")
    func httpValidators() {
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 1_796_000_000)) == "Mon, 30 Nov 2026 00:53:20 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("yesterday") == nil)
        #expect(ETagMatch.ifNoneMatch("\"a\", \"b\"", matches: "\"b\""))
        #expect(ETagMatch.ifNoneMatch("W/\"b\"", matches: "\"b\""))
        #expect(ETagMatch.ifNoneMatch("*", matches: "\"b\""))
        #expect(!ETagMatch.ifNoneMatch("\"c\"", matches: "\"b\""))
    }
}

@Suite("CRL PEM in pieces")
struct CRLPEMPiecesTests {
    @Test("the pieces join to PEM.crl and crlLength counts them, for sizes around line and piece boundaries",
          arguments: [1, 2, 3, 47, 48, 49, 100, 48 * 1024 - 1, 48 * 1024, 48 * 1024 + 5, 3 * 48 * 1024 + 77])
    func pieces(size: Int) throws {
        let der = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let joined = PEM.crlPieces(der).flatMap { $0 }
        #expect(String(decoding: joined, as: UTF8.self) == PEM.crl(der))
        #expect(joined.count == PEM.crlLength(derCount: size))
    }
}
