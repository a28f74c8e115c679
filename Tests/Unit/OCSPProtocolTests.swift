import CertctlPKI
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// The OCSP request parser and response builder, checked against bytes made
/// by `openssl ocsp` and read back by `openssl ocsp -respin`.
@Suite("OCSP protocol")
struct OCSPProtocolTests {
    /// A throwaway CA made by openssl, in a temporary directory.
    struct Fixture {
        let directory: String
        let ca: Certificate
        let caKey: Certificate.PrivateKey

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocsp-unit-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                             "-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.pem", "-days", "3",
                             "-subj", "/O=certctl tests/CN=OCSP unit CA"])
            ca = try Certificate(pemEncoded: String(contentsOfFile: "\(directory)/ca.pem", encoding: .utf8))
            caKey = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: "\(directory)/ca.key", encoding: .utf8))
        }

        func request(_ arguments: [String]) throws -> [UInt8] {
            _ = try openssl(["ocsp"] + arguments + ["-reqout", "\(directory)/req.der"])
            return Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/req.der")))
        }

        func keyHash(_ algorithm: OCSPHashAlgorithm) -> [UInt8] {
            var spki = DER.Serializer()
            try! spki.serialize(ca.publicKey)
            let root = try! DER.parse(spki.serializedBytes)
            guard case .constructed(let nodes) = root.content else { return [] }
            let bits = Array(nodes)[1]
            return algorithm.hash(try! ASN1BitString(derEncoded: bits).bytes)
        }

        func nameHash(_ algorithm: OCSPHashAlgorithm) -> [UInt8] {
            var serializer = DER.Serializer()
            try! serializer.serialize(ca.subject)
            return algorithm.hash(serializer.serializedBytes)
        }

        /// A responder certificate issued by the CA, and its identity.
        func responder() throws -> OCSPResponderIdentity {
            let key = P256.Signing.PrivateKey()
            let certificate = try OCSPResponderCertificate.make(
                serial: SerialNumber.random(), publicKey: key.publicKey,
                subject: try OCSPResponderCertificate.subject(issuerID: "iss-unit", generation: 1, keyID: "abcd"),
                issuer: ca, notBefore: Date().addingTimeInterval(-60), notAfter: Date().addingTimeInterval(86_400),
                signingKey: caKey)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return OCSPResponderIdentity(key: key, certificateDER: serializer.serializedBytes, notAfter: certificate.notValidAfter)
        }

        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = "\(directory)/\(name)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }

        func remove() { if ProcessInfo.processInfo.environment["KEEP"] == nil { try? FileManager.default.removeItem(atPath: directory) } }
    }

    static func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }

    @Test("an openssl SHA-1 request without nonce parses to one CertID with the CA's hashes")
    func opensslSHA1() throws {
        let f = try Fixture()
        defer { f.remove() }
        let request = try OCSPRequest.parse(try f.request(["-issuer", "\(f.directory)/ca.pem", "-serial", "0x1234", "-no_nonce"]))
        #expect(request.certIDs.count == 1)
        #expect(request.nonce == nil)
        let id = try #require(request.certIDs.first)
        #expect(id.hashAlgorithm == .sha1)
        #expect(id.serialHex == "1234")
        #expect(id.issuerNameHash == f.nameHash(.sha1))
        #expect(id.issuerKeyHash == f.keyHash(.sha1))
    }

    @Test("an openssl SHA-256 request with two CertIDs and a nonce parses completely")
    func opensslSHA256() throws {
        let f = try Fixture()
        defer { f.remove() }
        let request = try OCSPRequest.parse(try f.request(["-sha256", "-issuer", "\(f.directory)/ca.pem",
                                                           "-serial", "0x1234", "-serial", "0x99", "-nonce"]))
        #expect(request.certIDs.map(\.serialHex) == ["1234", "99"])
        #expect(request.certIDs.allSatisfy { $0.hashAlgorithm == .sha256 && $0.issuerKeyHash == f.keyHash(.sha256) })
        #expect(request.nonce?.count == 16)
    }

    @Test("a request round-trips, and nonces of 1 and 32 octets pass while 0 and 33 are refused")
    func nonceLengths() throws {
        let id = OCSPCertID(hashAlgorithm: .sha1, issuerNameHash: Array(repeating: 1, count: 20),
                            issuerKeyHash: Array(repeating: 2, count: 20), serialNumber: [0x01, 0x02])
        for length in [1, 32] {
            let request = OCSPRequest(certIDs: [id], nonce: Array(repeating: 7, count: length))
            #expect(try OCSPRequest.parse(try request.serializedBytes) == request)
        }
        for length in [0, 33] {
            let bytes = try OCSPRequest(certIDs: [id], nonce: Array(repeating: 7, count: length)).serializedBytes
            #expect(throws: OCSPRequestError.nonceLength(length)) { try OCSPRequest.parse(bytes) }
        }
    }

    @Test("malformed requests get typed errors")
    func malformed() throws {
        let good = try OCSPRequest(certIDs: [OCSPCertID(hashAlgorithm: .sha256, issuerNameHash: Array(repeating: 1, count: 32),
                                                         issuerKeyHash: Array(repeating: 2, count: 32), serialNumber: [5])]).serializedBytes
        #expect(throws: OCSPRequestError.self) { try OCSPRequest.parse([]) }
        #expect(throws: OCSPRequestError.self) { try OCSPRequest.parse(Array("hello".utf8)) }
        #expect(throws: OCSPRequestError.self) { try OCSPRequest.parse(Array(good.dropLast())) }
        #expect(throws: OCSPRequestError.self) { try OCSPRequest.parse(good + [0]) }
        #expect(throws: OCSPRequestError.emptyRequestList) { try OCSPRequest.parse(try OCSPRequest(certIDs: []).serializedBytes) }
        let tooMany = OCSPRequest(certIDs: Array(repeating: try OCSPRequest.parse(good).certIDs[0], count: 21))
        #expect(throws: OCSPRequestError.tooManyCertIDs(21)) { try OCSPRequest.parse(try tooMany.serializedBytes) }
        // hash length that does not match SHA-256
        let short = try OCSPRequest(certIDs: [OCSPCertID(hashAlgorithm: .sha256, issuerNameHash: [1], issuerKeyHash: [2],
                                                          serialNumber: [5])]).serializedBytes
        #expect(throws: OCSPRequestError.hashLength("sha256")) { try OCSPRequest.parse(short) }
    }

    @Test("SHA-384 and SHA-512 CertIDs from openssl parse with their hashes; SHA-224 is refused as unsupported")
    func sha384() throws {
        let f = try Fixture()
        defer { f.remove() }
        let ca = try Certificate(pemEncoded: String(contentsOfFile: "\(f.directory)/ca.pem", encoding: .utf8))
        var name = DER.Serializer()
        try name.serialize(ca.subject)
        for algorithm in [OCSPHashAlgorithm.sha384, .sha512] {
            let bytes = try f.request(["-\(algorithm.rawValue)", "-issuer", "\(f.directory)/ca.pem", "-serial", "0x10", "-no_nonce"])
            let id = try OCSPRequest.parse(bytes).certIDs[0]
            #expect(id.hashAlgorithm == algorithm)
            #expect(id.issuerNameHash == algorithm.hash(name.serializedBytes))
            #expect(id.issuerKeyHash == algorithm.hash(Array(ca.publicKey.subjectPublicKeyInfoBytes)))
            #expect(id.issuerKeyHash.count == algorithm.digestLength)
        }
        let bytes = try f.request(["-sha224", "-issuer", "\(f.directory)/ca.pem", "-serial", "0x10", "-no_nonce"])
        #expect(throws: OCSPRequestError.unsupportedHashAlgorithm("2.16.840.1.101.3.4.2.4")) { try OCSPRequest.parse(bytes) }
    }

    @Test("a signed good/revoked/unknown response with nonce verifies in openssl and round-trips")
    func signedResponse() throws {
        let f = try Fixture()
        defer { f.remove() }
        let requestBytes = try f.request(["-issuer", "\(f.directory)/ca.pem", "-serial", "0x1111", "-serial", "0x2222",
                                          "-serial", "0x3333", "-nonce"])
        let request = try OCSPRequest.parse(requestBytes)
        let responder = try f.responder()
        let now = Date().wholeSeconds
        let revokedAt = now.addingTimeInterval(-3600)
        let statuses: [OCSPCertStatus] = [.good, .revoked(time: revokedAt, reason: 1), .unknown]
        let singles = zip(request.certIDs, statuses).map {
            OCSPSingleResponse(certID: $0, certStatus: $1, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600))
        }
        let der = try responder.sign(singles, producedAt: now, nonce: request.nonce)

        let parsed = try OCSPResponse(derEncoded: der)
        #expect(parsed.status == .successful)
        #expect(parsed.responseData?.responses == singles)
        #expect(parsed.responseData?.nonce == request.nonce)
        #expect(parsed.certificates == [responder.certificateDER])
        let signature = try P256.Signing.ECDSASignature(derRepresentation: parsed.signature)
        #expect(responder.key.publicKey.isValidSignature(signature, for: parsed.responseDataBytes))

        // the nonce: openssl compares the request's with the response's
        let nonceCheck = try Self.openssl(["ocsp", "-respin", try f.write("resp.der", der), "-reqin", try f.write("req.der", requestBytes),
                                           "-CAfile", "\(f.directory)/ca.pem"])
        #expect(nonceCheck.contains("Response verify OK") && !nonceCheck.contains("Nonce"), "\(nonceCheck)")
        let text = try Self.openssl(["ocsp", "-respin", "\(f.directory)/resp.der", "-no_nonce",
                                     "-CAfile", "\(f.directory)/ca.pem", "-issuer", "\(f.directory)/ca.pem",
                                     "-serial", "0x1111", "-serial", "0x2222", "-serial", "0x3333"])
        #expect(text.contains("Response verify OK"), "\(text)")
        #expect(text.contains("0x1111: good"))
        #expect(text.contains("0x2222: revoked"))
        #expect(text.contains("Reason: keyCompromise"))
        #expect(text.contains("0x3333: unknown"))
        #expect(!text.contains("WARNING"), "\(text)")
        // the serializer mirrors the parser: what was parsed encodes to the same bytes
        #expect(try parsed.serialized() == der)
    }

    @Test("error responses carry only the status")
    func errorResponses() throws {
        for status in [OCSPResponseStatus.malformedRequest, .internalError, .tryLater, .unauthorized] {
            let der = OCSPResponse.error(status)
            #expect(der == [0x30, 0x03, 0x0a, 0x01, UInt8(status.rawValue)])
            let parsed = try OCSPResponse(derEncoded: der)
            #expect(parsed.status == status)
            #expect(parsed.responseData == nil)
            #expect(try parsed.serialized() == der)
        }
    }
}
