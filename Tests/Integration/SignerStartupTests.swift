import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// What certctl-signer accepts and refuses as its CA at start.
@Suite("Signer start-up", .timeLimit(.minutes(2)))
struct SignerStartupTests {
    func environment(_ url: String, cert: String, key: String, rpc: ServiceIdentities, health: Int) -> [String: String] {
        [
            "CERTCTL_DATABASE_URL": url, "CERTCTL_LOG_FORMAT": "text",
            "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(health)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(freePort())",
            "CERTCTL_CA_CERT_PATH": cert, "CERTCTL_CA_KEY_PATH": key,
        ].merging(rpc.environment(for: "signer")) { a, _ in a }
    }

    @Test("PKCS#8, SEC1 and PKCS#1 keys, ECDSA P-256/P-384 and RSA, all load and serve",
          arguments: [
            ("pkcs8 p256", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            ("sec1 p384", ["ecparam", "-name", "secp384r1", "-genkey", "-noout"]),
            ("pkcs1 rsa-2048", ["genrsa", "-traditional", "2048"]),
            ("pkcs8 rsa-3072", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]),
          ])
    func keyFormats(name: String, generate: [String]) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signer-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let key = directory + "/ca.key", cert = directory + "/ca.crt"
            try TestCA.run("/usr/bin/openssl", [generate[0], "-out", key] + generate.dropFirst())
            chmod(key, 0o600)
            try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-new", "-key", key, "-days", "30", "-subj", "/CN=\(name)", "-out", cert])
            let pem = try String(contentsOfFile: key, encoding: .utf8)
            let expectedHeader = name.hasPrefix("sec1") ? "EC PRIVATE KEY" : name.hasPrefix("pkcs1") ? "RSA PRIVATE KEY" : "PRIVATE KEY"
            #expect(pem.hasPrefix("-----BEGIN \(expectedHeader)-----"), "the fixture is really \(name)")
            let rpc = try TestCA.identities(in: directory + "/rpc", for: ["signer"])
            let health = freePort()
            let signer = try ChildProcess(try TestEnvironment.binary("certctl-signer"),
                                          environment: environment(TestEnvironment.urlText(url), cert: cert, key: key, rpc: rpc, health: health))
            try await signer.eventually("/readyz 200") { try await HTTP.get("http://127.0.0.1:\(health)/readyz").status == 200 }
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM issuer_generations WHERE issuer_id = 'iss-local' AND status = 'active'", url) == 1)
            #expect(await signer.stop() == 0)
        }
    }

    @Test("a key that does not match the certificate, or an expired CA, stops the signer naming the file")
    func refusesBadCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rpc = try TestCA.identities(in: directory + "/rpc", for: ["signer"])
        let good = try TestCA.create()
        defer { good.remove() }
        let other = try TestCA.create()
        defer { other.remove() }

        // mismatch: one CA's certificate with another's key
        let mismatch = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment(
            "postgres://u@127.0.0.1:1/x", cert: good.certPath, key: other.keyPath, rpc: rpc, health: freePort()))
        #expect(await mismatch.waitForExit(timeout: .seconds(10)) == 78)
        #expect(mismatch.stderr.contains("CERTCTL_CA_KEY_PATH=\"\(other.keyPath)\""))
        #expect(mismatch.stderr.contains("does not match"))

        // expired: a CA certificate whose notAfter has passed
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("expired CA") }
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true))
        let expired = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-86_400 * 10), notValidAfter: Date().addingTimeInterval(-86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        let expiredCert = directory + "/expired.crt", expiredKey = directory + "/expired.key"
        try expired.serializeAsPEM().pemString.write(toFile: expiredCert, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: expiredKey, atomically: true, encoding: .utf8)
        chmod(expiredKey, 0o600)
        let old = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment(
            "postgres://u@127.0.0.1:1/x", cert: expiredCert, key: expiredKey, rpc: rpc, health: freePort()))
        #expect(await old.waitForExit(timeout: .seconds(10)) == 78)
        #expect(old.stderr.contains("CERTCTL_CA_CERT_PATH=\"\(expiredCert)\""))
        #expect(old.stderr.contains("has not expired"))
    }

    @Test("init-ca writes a CA the signer accepts, with the key mode 0600, and never overwrites")
    func initCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("initca-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["init-ca", "--algorithm", "ecdsa-p384", "--subject", "/O=Example/CN=Example Root", "--days", "365",
                         "--cert-out", directory + "/ca.crt", "--key-out", directory + "/ca.key"]
        let first = try ChildProcess(try TestEnvironment.binary("certctl-signer"), arguments: arguments, environment: [:])
        #expect(await first.waitForExit(timeout: .seconds(30)) == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/ca.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: directory + "/ca.crt", encoding: .utf8))
        #expect(certificate.subject.description == "CN=Example Root,O=Example")
        #expect(certificate.issuer == certificate.subject)
        #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
        #expect(certificate.signatureAlgorithm == .ecdsaWithSHA384)
        let again = try ChildProcess(try TestEnvironment.binary("certctl-signer"), arguments: arguments, environment: [:])
        #expect(await again.waitForExit(timeout: .seconds(30)) != 0)
        #expect(again.stderr.contains("already exists"))
    }

    @Test("csr makes a sub-CA key and CSR; once an enterprise root signs it, the signer serves with it")
    func subCA() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("subca-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let make = try ChildProcess(try TestEnvironment.binary("certctl-signer"), arguments: [
                "csr", "--algorithm", "ecdsa-p256", "--subject", "/O=Example/CN=Example Issuing CA",
                "--key-out", directory + "/ca.key", "--csr-out", directory + "/ca.csr",
            ], environment: [:])
            #expect(await make.waitForExit(timeout: .seconds(30)) == 0)
            let mode = try FileManager.default.attributesOfItem(atPath: directory + "/ca.key")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let csr = try CertificateSigningRequest(pemEncoded: String(contentsOfFile: directory + "/ca.csr", encoding: .utf8))
            #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
            #expect(try csr.attributes.extensionRequest?.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))

            // The "enterprise root" signs it with openssl.
            let root = try TestCA.create()
            defer { root.remove() }
            let extensions = directory + "/ext.cnf"
            try "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
                .write(toFile: extensions, atomically: true, encoding: .utf8)
            try TestCA.run("/usr/bin/openssl", ["x509", "-req", "-in", directory + "/ca.csr", "-CA", root.certPath, "-CAkey", root.keyPath,
                                                "-CAcreateserial", "-days", "20", "-extfile", extensions, "-out", directory + "/ca.crt"])
            let rpc = try TestCA.identities(in: directory + "/rpc", for: ["signer"])
            let health = freePort()
            let signer = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment(
                TestEnvironment.urlText(url), cert: directory + "/ca.crt", key: directory + "/ca.key", rpc: rpc, health: health))
            try await signer.eventually("/readyz 200") { try await HTTP.get("http://127.0.0.1:\(health)/readyz").status == 200 }
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM issuer_generations WHERE issuer_id = 'iss-local' AND key_algorithm = 'ecdsa-p256'", url) == 1)
            #expect(await signer.stop() == 0)
        }
    }
}
