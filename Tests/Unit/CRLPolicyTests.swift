import CertctlPKI
import CertctlSignerCore
import CertctlStore
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509

/// What the signer checks before it signs a CRL: the header (CRLPolicy.checkHeader),
/// the entries against its own read of the revocation log (CRLEntryDigest, CRLPolicy.checkContents).
@Suite("CRL signing policy")
struct CRLPolicyTests {
    static let ca = SigningPolicyTests.ca
    static let now = SigningPolicyTests.now
    static let rules = CRLRules(maxValidity: .seconds(7 * 86_400))

    struct Header {
        var algorithm = try! SignatureAlgorithmIdentifier.der(.ecdsaWithSHA256)
        var issuer = try! ReservationFields.subjectDER(CRLPolicyTests.ca.certificate.subject)
        var thisUpdate = Int64(CRLPolicyTests.now.timeIntervalSince1970)
        var validity: Int64 = 4 * 3600
        var number: [UInt8] = [0x07]
        var authorityKeyID = Array(try! TBSCertificateBuilder.issuerKeyIdentifier(CRLPolicyTests.ca.certificate))
        var entries: [RevokedEntry] = []

        func tbs() throws -> [UInt8] {
            var writer = try TBSCertListWriter(header: CRLHeader(
                signatureAlgorithmDER: algorithm, issuerNameDER: issuer, thisUpdate: thisUpdate, nextUpdate: thisUpdate + validity,
                crlNumber: number, authorityKeyIdentifier: authorityKeyID))
            for entry in entries { try writer.append(entry) }
            return Array(buffer: writer.finish().tbs)
        }
    }

    static func headerRefusal(final: Bool = false, _ change: (inout Header) -> Void) throws -> String? {
        var header = Header()
        change(&header)
        let fields = try TBSCertListFields(try header.tbs())
        do {
            _ = try CRLPolicy.checkHeader(fields, ca: ca, rules: rules, now: now, final: final)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("the header: the issuer's algorithm, name and key id, a CRL Number, thisUpdate near now, nextUpdate within the maximum")
    func header() throws {
        #expect(try Self.headerRefusal { _ in } == nil)
        #expect(try Self.headerRefusal { $0.algorithm = try! SignatureAlgorithmIdentifier.der(.ecdsaWithSHA384) } == "signature_algorithm_mismatch")
        #expect(try Self.headerRefusal { $0.issuer = try! ReservationFields.subjectDER(try! SubjectName.parse("CN=Other")) } == "issuer_mismatch")
        #expect(try Self.headerRefusal { $0.authorityKeyID = [9, 9, 9] } == "issuer_mismatch")
        #expect(try Self.headerRefusal { $0.thisUpdate -= 301 } == "crl_time_invalid")
        #expect(try Self.headerRefusal { $0.thisUpdate += 301 } == "crl_time_invalid")
        #expect(try Self.headerRefusal { $0.validity = 10 * 365 * 86_400 } == "crl_time_invalid", "a nextUpdate ten years ahead")
        #expect(try Self.headerRefusal { $0.validity = 7 * 86_400 } == nil)
        #expect(try Self.headerRefusal { $0.validity = 7 * 86_400 + 1 } == "crl_time_invalid")
    }

    @Test("an archived generation's final CRL may stay valid until its CA certificate expires, not a second longer; a live generation's may not")
    func finalCRL() throws {
        let untilExpiry = Int64(Self.ca.certificate.notValidAfter.timeIntervalSince1970) - Int64(Self.now.timeIntervalSince1970)
        #expect(untilExpiry > 7 * 86_400, "the test CA outlives the normal maximum")
        #expect(try Self.headerRefusal(final: true) { $0.validity = untilExpiry } == nil)
        #expect(try Self.headerRefusal(final: true) { $0.validity = untilExpiry + 1 } == "crl_time_invalid")
        #expect(try Self.headerRefusal(final: false) { $0.validity = untilExpiry } == "crl_time_invalid")
        #expect(try Self.headerRefusal(final: true) { $0.thisUpdate -= 301 } == "crl_time_invalid", "thisUpdate is still checked")
    }

    @Test("the CRL Number's decimal text is what the signer records; a number of more than 20 octets cannot even be encoded")
    func number() throws {
        var header = Header()
        header.number = [0x01, 0x00]
        #expect(try CRLPolicy.checkHeader(try TBSCertListFields(try header.tbs()), ca: Self.ca, rules: Self.rules, now: Self.now) == "256")
        header.number = [0x01] + Array(repeating: 0, count: 20)
        #expect(throws: PKIError.self) { _ = try header.tbs() }
    }

    static let entries = [
        RevokedEntry(serialHex: "1a2b", revokedAt: 1_795_000_000, reasonCode: 1, invalidityDate: 1_794_000_000),
        RevokedEntry(serialHex: "7f", revokedAt: 1_795_000_001, reasonCode: nil, invalidityDate: nil),
        RevokedEntry(serialHex: "ff01", revokedAt: 1_795_000_002, reasonCode: 6, invalidityDate: nil),
    ]

    @Test("the entry digest is SHA-256 over 'serial revokedAt reason invalidity|-' lines in serial text order, as Postgres computes it")
    func entryDigest() throws {
        var header = Header()
        header.entries = Self.entries
        let digest = try CRLEntryDigest(tbsCertList: try header.tbs())
        let lines = "1a2b 1795000000 1 1794000000\n7f 1795000001 0 -\nff01 1795000002 6 -"
        #expect(digest == CRLEntryDigest(count: 3, sha256: Array(SHA256.hash(data: Data(lines.utf8)))))
        #expect(try CRLEntryDigest(tbsCertList: try Header().tbs()) == CRLEntryDigest(count: 0, sha256: Array(SHA256.hash(data: Data()))))
    }

    @Test("entries out of serial order, a repeated serial or an entry extension other than reason and invalidity date are malformed")
    func entryShape() throws {
        var header = Header()
        header.entries = [Self.entries[1], Self.entries[0]]
        #expect(throws: PKIError.self) { try CRLEntryDigest(tbsCertList: try header.tbs()) }
        header.entries = [Self.entries[0], Self.entries[0]]
        #expect(throws: PKIError.self) { try CRLEntryDigest(tbsCertList: try header.tbs()) }
        // an entry with a certificateIssuer extension (2.5.29.29), spliced in by hand
        var entry: [UInt8] = []
        DERWriter.append(DERWriter.integer, content: [0x7f], to: &entry)
        DERTime.appendTime(1_795_000_000, to: &entry)
        var ext: [UInt8] = []
        DERWriter.append(0x06, content: [0x55, 0x1d, 0x1d], to: &ext)
        DERWriter.append(DERWriter.octetString, content: [0x30, 0x00], to: &ext)
        var extensions: [UInt8] = []
        DERWriter.append(DERWriter.sequence, content: ext, to: &extensions)
        DERWriter.append(DERWriter.sequence, content: extensions, to: &entry)
        #expect(throws: PKIError.self) { try CRLEntryDigest(tbsCertList: try Self.splice(entries: [entry])) }
    }

    /// A TBSCertList with `entries` (each an encoded revoked-entry body) after the header fields.
    static func splice(entries: [[UInt8]]) throws -> [UInt8] {
        var body: [UInt8] = []
        DERWriter.append(DERWriter.integer, content: [1], to: &body)
        body += Header().algorithm
        body += Header().issuer
        DERTime.appendTime(Header().thisUpdate, to: &body)
        var list: [UInt8] = []
        for entry in entries { DERWriter.append(DERWriter.sequence, content: entry, to: &list) }
        DERWriter.append(DERWriter.sequence, content: list, to: &body)
        var tbs: [UInt8] = []
        DERWriter.append(DERWriter.sequence, content: body, to: &tbs)
        return tbs
    }

    static func expected(_ entries: CRLEntryDigest, stale: Int = 0, beyond: Bool = false) -> ExpectedCRL {
        ExpectedCRL(entries: entries, staleChanges: stale, cutBeyondLog: beyond, lastThisUpdate: nil)
    }

    @Test("crl_contents_mismatch: entries other than the revocation log's, a cut beyond the log, or a change older than the allowed staleness left out")
    func contents() throws {
        var header = Header()
        header.entries = Self.entries
        let full = try CRLEntryDigest(tbsCertList: try header.tbs())
        header.entries = [Self.entries[0], Self.entries[2]]
        let missing = try CRLEntryDigest(tbsCertList: try header.tbs())
        header.entries = [Self.entries[0], RevokedEntry(serialHex: "7f", revokedAt: 1_795_000_001, reasonCode: 4, invalidityDate: nil), Self.entries[2]]
        let otherReason = try CRLEntryDigest(tbsCertList: try header.tbs())
        func code(_ entries: CRLEntryDigest, _ expected: ExpectedCRL) -> String? {
            do { try CRLPolicy.checkContents(entries, expected: expected, cut: 10, rules: Self.rules); return nil } catch { return error.code }
        }
        #expect(code(full, Self.expected(full)) == nil)
        #expect(code(missing, Self.expected(full)) == "crl_contents_mismatch", "a revocation hidden")
        #expect(code(full, Self.expected(missing)) == "crl_contents_mismatch", "a certificate revoked that the log does not revoke")
        #expect(code(otherReason, Self.expected(full)) == "crl_contents_mismatch", "same serials, another reason")
        #expect(code(full, Self.expected(full, stale: 1)) == "crl_contents_mismatch")
        #expect(code(full, Self.expected(full, beyond: true)) == "crl_contents_mismatch")
    }
}
