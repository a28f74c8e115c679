import CertctlPKI
import Testing

@Suite("Serial numbers in canonical form")
struct SerialNumberTests {
    @Test("operator input in any case, with colons, 0x or leading zeros resolves to one canonical form")
    func canonicalize() {
        for input in ["0a1b2c", "0A:1B:2C", "00:0a:1b:2c", "0x0A1B2C", "a1b2c", "A1B2C", " 0a 1b 2c "] {
            #expect(SerialNumber.canonicalize(input) == "a1b2c", "\(input)")
        }
        #expect(SerialNumber.canonicalize("0") == nil, "zero is not a serial")
        #expect(SerialNumber.canonicalize("00:00") == nil)
        #expect(SerialNumber.canonicalize("xyz") == nil)
        #expect(SerialNumber.canonicalize("") == nil)
        #expect(SerialNumber.canonicalize(String(repeating: "7f", count: 20)) != nil, "20 positive octets")
        #expect(SerialNumber.canonicalize(String(repeating: "ff", count: 20)) == nil, "needs 21 octets in DER")
        #expect(SerialNumber.canonicalize(String(repeating: "1", count: 41)) == nil)
    }

    @Test("DER integer octets and canonical hex are inverses, including a leading 0x0N octet")
    func derRoundTrip() {
        let bytes: [UInt8] = [0x0a, 0xff, 0x00, 0x10]
        #expect(SerialNumber.canonicalHex(ofDERInteger: bytes) == "aff0010")
        #expect(SerialNumber.derBytes(fromCanonicalHex: "aff0010") == bytes)
        #expect(SerialNumber.canonicalHex(ofDERInteger: [0x00, 0x80]) == "80")
        #expect(SerialNumber.derBytes(fromCanonicalHex: "80") == [0x00, 0x80])
        #expect(SerialNumber.canonicalHex(ofDERInteger: [0x80]) == nil, "negative")
        #expect(SerialNumber.canonicalHex(ofDERInteger: [0x00]) == nil, "zero")
    }

    @Test("fresh serials are 20 positive octets and differ")
    func random() {
        let serials = (0..<200).map { _ in SerialNumber.random() }
        #expect(serials.allSatisfy { $0.count == 20 && $0[0] >= 0x01 && $0[0] <= 0x7f })
        #expect(Set(serials.map { $0.description }).count == 200)
        #expect(serials.allSatisfy { SerialNumber.canonicalHex(ofDERInteger: $0) != nil })
    }
}
