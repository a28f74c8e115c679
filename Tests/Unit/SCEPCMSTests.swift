import CertctlPKI
import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1
import Testing
import X509

/// Fixtures made with the real `openssl` binary, in a scratch directory.
struct OpenSSLFixture {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-cms-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    @discardableResult
    func openssl(_ arguments: [String], stdin: [UInt8]? = nil) throws -> (status: Int32, output: [UInt8], error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
        try input.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(output), String(decoding: error, as: UTF8.self))
    }

    /// An RSA key and self-signed certificate named `name`.{key,crt}; returns the identity.
    func identity(_ name: String, subject: String) throws -> SCEPRAIdentity {
        let made = try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt",
                                "-subj", subject, "-days", "2"])
        #expect(made.status == 0, "\(made.error)")
        return try SCEPRAIdentity(certificate: Certificate(pemEncoded: String(contentsOfFile: path("\(name).crt"), encoding: .utf8)),
                                  keyPEM: String(contentsOfFile: path("\(name).key"), encoding: .utf8))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: dir.appendingPathComponent(name))
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: dir.appendingPathComponent(name))) }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

@Suite("CMS and SCEP messages (RFC 5652, RFC 8894)")
struct SCEPCMSTests {
    @Test("a certs-only SignedData lists the RA then the CA for openssl pkcs7 -print_certs")
    func certsOnly() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let ca = try fixture.identity("ca", subject: "/CN=Test CA")
        try fixture.write("certs.p7b", try CMSSignedData.certsOnly([ra.certificate, ca.certificate]))
        let printed = try fixture.openssl(["pkcs7", "-inform", "DER", "-in", "certs.p7b", "-print_certs", "-noout"])
        let text = String(decoding: printed.output, as: UTF8.self)
        #expect(printed.status == 0, "\(printed.error)")
        let raAt = try #require(text.range(of: "CN = Test RA")), caAt = try #require(text.range(of: "CN = Test CA"))
        #expect(raAt.lowerBound < caAt.lowerBound)
        #expect(try CMS.signedData(fixture.read("certs.p7b")).certificates == [ra.certificate, ca.certificate])
    }

    @Test("an EnvelopedData from openssl cms -encrypt opens with the RA key, for AES-128 and AES-256")
    func opensOpenSSLEnvelope() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let secret = Array("the CSR bytes".utf8)
        try fixture.write("plain", secret)
        for cipher in ["-aes128", "-aes256"] {
            let made = try fixture.openssl(["cms", "-encrypt", "-binary", cipher, "-outform", "DER", "-in", "plain", "-out", "env.der", "ra.crt"])
            #expect(made.status == 0, "\(made.error)")
            let opened = try CMS.open(try CMS.envelopedData(fixture.read("env.der")), recipient: ra.certificate, key: ra.decryptionKey)
            #expect(opened == secret, "\(cipher)")
        }
    }

    @Test("3DES from openssl opens and single DES round-trips with openssl (through the system libcrypto)")
    func legacyDES() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        try #require(CMSContentCipher.legacyDESAvailable, "libcrypto.so.3 is installed with openssl")
        try fixture.write("plain", Array("legacy client".utf8))
        #expect(try fixture.openssl(["cms", "-encrypt", "-binary", "-des3", "-outform", "DER", "-in", "plain", "-out", "des3.der", "ra.crt"]).status == 0)
        let opened = try CMS.open(try CMS.envelopedData(fixture.read("des3.der")), recipient: ra.certificate, key: ra.decryptionKey)
        #expect(opened == Array("legacy client".utf8))
        try fixture.write("des.der", try CMS.contentInfoDER(try CMS.seal(Array("single DES".utf8), to: ra.certificate, cipher: .des)))
        let decrypted = try fixture.openssl(["cms", "-decrypt", "-provider", "legacy", "-provider", "default", "-inform", "DER",
                                             "-in", "des.der", "-inkey", "ra.key", "-recip", "ra.crt"])
        #expect(decrypted.status == 0, "\(decrypted.error)")
        #expect(decrypted.output == Array("single DES".utf8))
        #expect(try CMS.open(try CMS.envelopedData(fixture.read("des.der")), recipient: ra.certificate, key: ra.decryptionKey)
                == Array("single DES".utf8))
    }

    @Test("an unknown cipher, an envelope for another RA, garbage and the wrong content type are refused with their own errors")
    func refusals() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let other = try fixture.identity("other", subject: "/CN=Other RA")
        try fixture.write("plain", Array("x".utf8))
        #expect(try fixture.openssl(["cms", "-encrypt", "-binary", "-camellia128", "-outform", "DER", "-in", "plain", "-out", "cam.der", "ra.crt"]).status == 0)
        #expect(throws: CMSError.self) {
            try CMS.open(try CMS.envelopedData(fixture.read("cam.der")), recipient: ra.certificate, key: ra.decryptionKey)
        }
        #expect((try? CMSContentCipher([1, 2, 392, 200011, 61, 1, 1, 1, 2])) == nil, "camellia128-cbc is not supported")
        #expect(try fixture.openssl(["cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-in", "plain", "-out", "other.der", "other.crt"]).status == 0)
        #expect(throws: CMSError.notForThisRecipient) {
            try CMS.open(try CMS.envelopedData(fixture.read("other.der")), recipient: ra.certificate, key: ra.decryptionKey)
        }
        #expect(throws: CMSError.notForThisRecipient) {
            _ = try CMS.open(try CMS.envelopedData(fixture.read("other.der")), recipient: ra.certificate, key: other.decryptionKey)
        }
        #expect(throws: CMSError.self) { try CMS.signedData([0x30, 0x03, 0x02, 0x01]) }
        #expect(throws: CMSError.wrongContentType(expected: "\(CMSOID.signedData)", got: "\(CMSOID.envelopedData)")) {
            try CMS.signedData(fixture.read("other.der"))
        }
        #expect(throws: SCEPError.self) { try SCEPPKIMessage.parse(Array("not a pkiMessage".utf8)) }
    }

    @Test("implicit rejection: a key-transport block with bad padding, one holding a key of the wrong length, and a corrupted content all fail with the one same error (or, rarely, decrypt to garbage), the same way every time")
    func implicitRejection() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let content = Array("the CSR would be here".utf8)
        let sealed = try CMS.seal(content, to: ra.certificate, cipher: .aes128)
        #expect(try CMS.open(sealed, recipient: ra.certificate, key: ra.decryptionKey) == content)
        let publicKey = try _RSA.Encryption.PublicKey(derRepresentation: ra.certificate.publicKey.subjectPublicKeyInfoBytes)
        func with(encryptedKey: [UInt8]? = nil, ciphertext: [UInt8]? = nil) -> CMSEnvelopedData {
            var copy = sealed
            if let encryptedKey { copy.recipientInfos[0].encryptedKey = encryptedKey[...] }
            if let ciphertext { copy.encryptedContentInfo.encryptedContent = ciphertext[...] }
            return copy
        }
        func outcome(_ envelope: CMSEnvelopedData) -> String {
            do {
                let opened = try CMS.open(envelope, recipient: ra.certificate, key: ra.decryptionKey)
                return opened == content ? "original" : "garbage"
            } catch {
                return "\(error)"
            }
        }
        var original = Array(sealed.encryptedContentInfo.encryptedContent ?? [])
        original[original.count - 1] ^= 0xff
        var variants: [CMSEnvelopedData] = [with(ciphertext: original)]                     // the content corrupted
        variants += try (5...9).map { try with(encryptedKey: Array(publicKey.encrypt(Array(repeating: 7, count: $0),
                                                                                    padding: ._WEAK_AND_INSECURE_PKCS_V1_5))) }
        variants += (0..<20).map { _ in with(encryptedKey: (0..<256).map { _ in UInt8.random(in: 0...255) }) }  // bad padding
        let outcomes = variants.map(outcome)
        let errors = Set(outcomes.filter { $0 != "garbage" })
        #expect(errors.count == 1, "one error for every kind of failure: \(errors)")
        #expect(!outcomes.contains("original"))
        #expect(outcomes.filter { $0 == "garbage" }.count <= 3, "a wrong key passes the padding check about once in 256")
        #expect(variants.map(outcome) == outcomes, "the same block always gives the same answer")
    }

    @Test("what we sign and seal, openssl cms verifies and decrypts")
    func openSSLReadsOurs() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let client = try fixture.identity("client", subject: "/CN=device-1")
        let content = Array("hello device".utf8)
        try fixture.write("sealed.der", try CMS.contentInfoDER(try CMS.seal(content, to: client.certificate, cipher: .aes256)))
        let decrypted = try fixture.openssl(["cms", "-decrypt", "-inform", "DER", "-in", "sealed.der", "-inkey", "client.key", "-recip", "client.crt"])
        #expect(decrypted.status == 0, "\(decrypted.error)")
        #expect(decrypted.output == content)
        let signed = try CMS.sign(content: content, attributes: [], certificate: ra.certificate, key: ra.signingKey,
                                  digest: .sha256, includeCertificates: [ra.certificate])
        try fixture.write("signed.der", try signed.contentInfoDER())
        let verified = try fixture.openssl(["cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "ra.crt"])
        #expect(verified.status == 0, "\(verified.error)")
        #expect(verified.output == content)
    }

    @Test("a SignedData from openssl cms -sign verifies; one flipped signature bit does not")
    func verifiesOpenSSLSignature() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        _ = try fixture.identity("client", subject: "/CN=device-1")
        try fixture.write("plain", Array("payload".utf8))
        let made = try fixture.openssl(["cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER",
                                        "-in", "plain", "-signer", "client.crt", "-inkey", "client.key", "-out", "signed.der"])
        #expect(made.status == 0, "\(made.error)")
        var signed = try CMS.signedData(fixture.read("signed.der"))
        let (certificate, _) = try CMS.verify(signed)
        #expect(certificate.subject.description.contains("device-1"))
        var signature = Array(signed.signerInfos[0].signature)
        signature[signature.count - 1] ^= 0x01
        signed.signerInfos[0].signature = signature[...]
        #expect(throws: CMSError.badSignature) { try CMS.verify(signed) }
    }

    @Test("CertPoll messageData: an IssuerAndSubject from openssl asn1parse -genconf parses, round-trips, and garbage is scep_malformed_poll")
    func issuerAndSubject() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        try """
            asn1 = SEQUENCE:ias
            [ias]
            issuer = SEQUENCE:issuer
            subject = SEQUENCE:subject
            [issuer]
            o = SET:issuer_o
            cn = SET:issuer_cn
            [issuer_o]
            attr = SEQUENCE:issuer_o_attr
            [issuer_o_attr]
            type = OID:organizationName
            value = UTF8:certctl test
            [issuer_cn]
            attr = SEQUENCE:issuer_cn_attr
            [issuer_cn_attr]
            type = OID:commonName
            value = UTF8:Test CA
            [subject]
            cn = SET:subject_cn
            [subject_cn]
            attr = SEQUENCE:subject_cn_attr
            [subject_cn_attr]
            type = OID:commonName
            value = PRINTABLESTRING:device-42
            """.write(toFile: fixture.path("ias.cnf"), atomically: true, encoding: .utf8)
        let made = try fixture.openssl(["asn1parse", "-genconf", "ias.cnf", "-out", "ias.der", "-noout"])
        #expect(made.status == 0, "\(made.error)")
        let der = try fixture.read("ias.der")
        let parsed = try SCEPIssuerAndSubject.parse(der)
        #expect(parsed.issuer.description == "CN=Test CA,O=certctl test", "RFC 4514 order: last RDN first")
        #expect(parsed.subject.description == "CN=device-42")
        var serializer = DER.Serializer()
        try serializer.serialize(parsed)
        #expect(serializer.serializedBytes == der)
        #expect(throws: SCEPError.self) { try SCEPIssuerAndSubject.parse([0x30, 0x03, 0x02, 0x01, 0x01]) }
        do { _ = try SCEPIssuerAndSubject.parse(Array("garbage".utf8)) } catch { #expect(error.code == "scep_malformed_poll") }
    }

    @Test("PKCSReq → parse, verify, decrypt → CertRep SUCCESS the client decrypts; FAILURE carries failInfo and nonces")
    func pkcsReqRoundTrip() throws {
        let fixture = try OpenSSLFixture(); defer { fixture.remove() }
        let ra = try fixture.identity("ra", subject: "/CN=Test RA")
        let client = try fixture.identity("client", subject: "/CN=device-1")
        let csr = try fixture.openssl(["req", "-new", "-key", "client.key", "-subj", "/CN=device-1", "-outform", "DER"])
        #expect(csr.status == 0, "\(csr.error)")
        let nonce = (0..<16).map { UInt8($0) }
        let request = try SCEPClientMessage.pkcsReq(csrDER: csr.output, transactionID: "tx-1", senderNonce: nonce,
                                                    client: client, ra: ra.certificate, cipher: .aes128)
        let message = try SCEPPKIMessage.parse(request)
        #expect(message.messageType == .pkcsReq)
        #expect(message.transactionID == "tx-1")
        #expect(message.senderNonce == nonce)
        #expect(message.contentCipher() == .aes128)
        #expect(try message.open(with: ra) == csr.output)

        let other = try fixture.identity("other", subject: "/CN=Other RA")
        #expect(throws: SCEPError.from(.notForThisRecipient)) { try message.open(with: other) }

        let issued = try fixture.identity("issued", subject: "/CN=device-1")
        let success = try SCEPCertRep.build(.success(certificates: [issued.certificate], recipient: client.certificate, cipher: .aes128),
                                            transactionID: "tx-1", recipientNonce: nonce, digest: .sha1, ra: ra)
        let reply = try SCEPClientMessage.readCertRep(success, ra: ra.certificate, client: client)
        #expect(reply.status == .success)
        #expect(reply.transactionID == "tx-1")
        #expect(reply.recipientNonce == nonce)
        #expect(reply.certificates == [issued.certificate])

        let failure = try SCEPCertRep.build(.failure(.badRequest), transactionID: "tx-1", recipientNonce: nonce, digest: .sha256, ra: ra)
        let refused = try SCEPClientMessage.readCertRep(failure, ra: ra.certificate, client: client)
        #expect(refused.status == .failure)
        #expect(refused.failInfo == .badRequest)
        #expect(refused.certificates.isEmpty)
    }
}
