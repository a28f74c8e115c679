@testable import CertctlAdminCore
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import SwiftASN1
import Testing
import X509

/// CA key rotation through the admin API, carried out by a real certctl-signer
/// (docs/disaster-recovery.md, "CA key rotation").
@Suite("Admin API: issuer creation and key rotation", .serialized)
struct AdminAPIRotationTests {
    static func pem(_ value: Any?) throws -> Certificate {
        try Certificate(pemEncoded: try #require(value as? String))
    }

    static func generations(_ stack: AdminAPIStack, _ issuer: String) async throws -> [[String: Any]] {
        let reply = try await stack.call(.get, "/api/v1/issuers/\(issuer)")
        try #require(reply.status == .ok, "\(reply.text)")
        return try #require(reply["generations"] as? [[String: Any]])
    }

    @Test("create an issuer, rotate it self-signed with a cross-certificate: the new generation is active at once, the old one retired; leaves are issued by the new key, under their generation's CRL and caIssuers URLs; every step audited under the admin identity with the API actor")
    func selfSignedRotation() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let created = try await stack.call(.post, "/api/v1/issuers", .json([
                "id": "rot-a", "display_name": "Rotation A", "subject": "/O=Test/CN=Rotation A G1", "validity_days": 30]))
            #expect(created.status == .created, "\(created.text)")
            #expect(created["generation"] as? Int == 1)
            #expect(created["status"] as? String == "active")
            let first = try Self.pem(created["certificate_pem"])
            #expect(first.subject.description == "CN=Rotation A G1,O=Test")
            #expect(first.issuer == first.subject, "self-signed")
            let issued = try await stack.call(.post, "/api/v1/certificates", .json([
                "csr_pem": try CSRFixture("a1.example.com").pem, "issuer_id": "rot-a", "validity_seconds": 600]))
            #expect(issued.status == .created, "\(issued.text)")
            let a1 = try Self.pem(issued["certificate_pem"])
            #expect(first.publicKey.isValidSignature(a1.signature, for: a1))
            #expect(abs(a1.notValidAfter.timeIntervalSinceNow - 600) < 10, "validity_seconds")
            #expect(try Self.cdp(a1) == ["http://crl.test/.well-known/pki/crl/rot-a/1"])

            let rotated = try await stack.call(.post, "/api/v1/issuers/rot-a/rotations", .json([
                "subject": "/O=Test/CN=Rotation A G2", "cross_certificate": true, "key_algorithm": "ecdsa-p384"]))
            #expect(rotated.status == .created, "\(rotated.text)")
            #expect(rotated["generation"] as? Int == 2)
            #expect(rotated["status"] as? String == "active")
            let second = try Self.pem(rotated["certificate_pem"])
            #expect(rotated["key_algorithm"] as? String == "ecdsa-p384")
            let cross = try Self.pem(rotated["cross_certificate_pem"])
            #expect(cross.publicKey == second.publicKey && cross.issuer == first.subject)
            #expect(first.publicKey.isValidSignature(cross.signature, for: cross), "the old key certifies the new one")

            let generations = try await Self.generations(stack, "rot-a")
            #expect(generations.map { $0["status"] as? String } == ["retired", "active"])
            #expect((generations[0]["certificates"] as? [String: Any])?["unexpired"] as? Int == 1)
            let issuer = try await stack.call(.get, "/api/v1/issuers/rot-a")
            #expect(issuer["display_name"] as? String == "Rotation A")
            #expect(issuer["generation"] as? Int == 2)

            let next = try await stack.call(.post, "/api/v1/certificates", .json([
                "csr_pem": try CSRFixture("a2.example.com").pem, "issuer_id": "rot-a"]))
            #expect(next.status == .created, "\(next.text)")
            let a2 = try Self.pem(next["certificate_pem"])
            #expect(second.publicKey.isValidSignature(a2.signature, for: a2), "leaves come from the new key")
            #expect(try Self.cdp(a2) == ["http://crl.test/.well-known/pki/crl/rot-a/2"])
            let chain = try PEMDocument.parseMultiple(pemString: try #require(next["chain_pem"] as? String))
            #expect(try chain.map { try Certificate(pemDocument: $0) } == [a2, second])
            // the old leaf's chain stays its own generation's
            let old = try await stack.call(.get, "/api/v1/certificates/\(try #require(issued["id"] as? String))")
            let oldChain = try PEMDocument.parseMultiple(pemString: try #require(old["chain_pem"] as? String))
            #expect(try oldChain.map { try Certificate(pemDocument: $0) } == [a1, first])

            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'issuer.rotate' AND actor = 'certctl-admin'
                  AND details->>'requested_by' = 'test-admin' AND outcome = 'success'
                """) == 2, "the creation and the rotation")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'issuer.generation.activate' AND target_id LIKE 'rot-a/%'") == 2)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'issuer.generation.retire' AND target_id = 'rot-a/1'") == 1)
            // the new key never left the signer: a mode-0600 file in its key directory
            let keyPath = try #require(try await TestEnvironment.text(
                "SELECT key_path FROM issuer_generations WHERE issuer_id = 'rot-a' AND generation = 2", stack.url))
            #expect(keyPath.hasPrefix(stack.ca.directory + "/generations/"))
            let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test("a sub-CA rotation waits pending with a CSR until the parent's certificate is installed; a certificate for another key, a non-CA certificate or a broken chain is refused; activation at a chosen time")
    func subCARotation() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            _ = try await stack.call(.post, "/api/v1/issuers", .json(["id": "rot-b", "subject": "/CN=Rotation B G1"]))
            let started = try await stack.call(.post, "/api/v1/issuers/rot-b/rotations", .json(["mode": "sub-ca"]))
            #expect(started.status == .created, "\(started.text)")
            #expect(started["status"] as? String == "pending")
            #expect(isNull(started["certificate_pem"]))
            let csr = try CertificateSigningRequest(pemEncoded: try #require(started["csr_pem"] as? String))
            #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
            #expect(csr.subject.description == "CN=Rotation B G1", "the active generation's subject by default")

            // a second rotation while one is pending
            let again = try await stack.call(.post, "/api/v1/issuers/rot-b/rotations", .json([:]))
            again.expectError(.conflict, "rotation_pending", "second rotation")

            let root = P256.Signing.PrivateKey()
            let rootName = try DistinguishedName { CommonName("Enterprise Root") }
            let rootCertificate = try Self.certificate(subject: rootName, key: Certificate.PublicKey(root.publicKey), issuer: rootName,
                                                       signer: root, isCA: true)
            let install = { (certificate: Certificate, chain: [Certificate], extra: [String: Any]) async throws -> APIReply in
                try await stack.call(.post, "/api/v1/issuers/rot-b/generations/2/certificate", .json(extra.merging([
                    "certificate_pem": PEM.certificate(try IssuerOperations.der(certificate)),
                    "chain_pem": try chain.map { PEM.certificate(try IssuerOperations.der($0)) }.joined(),
                ]) { a, _ in a }))
            }
            let wrongKey = try Self.certificate(subject: csr.subject, key: Certificate.PublicKey(P256.Signing.PrivateKey().publicKey),
                                                issuer: rootName, signer: root, isCA: true)
            try await install(wrongKey, [rootCertificate], [:]).expectError(.unprocessableContent, "certificate_key_mismatch", "other key")
            let notCA = try Self.certificate(subject: csr.subject, key: csr.publicKey, issuer: rootName, signer: root, isCA: false)
            try await install(notCA, [rootCertificate], [:]).expectError(.unprocessableContent, "certificate_not_ca", "not a CA")
            let good = try Self.certificate(subject: csr.subject, key: csr.publicKey, issuer: rootName, signer: root, isCA: true)
            let strangerName = try DistinguishedName { CommonName("Stranger") }
            let stranger = try Self.certificate(subject: strangerName, key: Certificate.PublicKey(P256.Signing.PrivateKey().publicKey),
                                                issuer: strangerName, signer: P256.Signing.PrivateKey(), isCA: true)
            try await install(good, [stranger], [:]).expectError(.unprocessableContent, "chain_broken", "broken chain")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'signer.InstallGenerationCertificate' AND outcome = 'failure'") == 3)
            #expect(try await Self.generations(stack, "rot-b").map { $0["status"] as? String } == ["active", "pending"])

            let activateAt = Date().addingTimeInterval(6)
            let installed = try await install(good, [rootCertificate], ["activate_at": ISO8601DateFormatter().string(from: activateAt)])
            #expect(installed.status == .ok, "\(installed.text)")
            #expect(installed["status"] as? String == "pending", "waits for its activation time")
            #expect(try Self.pem(installed["certificate_pem"]) == good)
            let deadline = Date().addingTimeInterval(20)
            while try await Self.generations(stack, "rot-b").map({ $0["status"] as? String }) != ["retired", "active"], Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await Self.generations(stack, "rot-b").map { $0["status"] as? String } == ["retired", "active"],
                    "generation 2 becomes active after its activation time")
            #expect(Date() >= activateAt.addingTimeInterval(-1))
            let leaf = try await stack.call(.post, "/api/v1/certificates", .json([
                "csr_pem": try CSRFixture("b.example.com").pem, "issuer_id": "rot-b"]))
            #expect(leaf.status == .created, "\(leaf.text)")
            let certificate = try Self.pem(leaf["certificate_pem"])
            #expect(csr.publicKey.isValidSignature(certificate.signature, for: certificate), "issued by the sub-CA key")
            #expect(certificate.issuer == csr.subject)
        }
    }

    @Test("refusals: bad mode, algorithm, subject or validity (400); an unknown issuer (404); an existing id (409); an operator (403); installing into a generation that is not pending (409)")
    func refusals() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/issuers/iss-local/rotations", .json(["mode": "cross"]))
            try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/issuers/iss-local/rotations",
                                          .json(["validity_days": 0]))
            let algorithm = try await stack.call(.post, "/api/v1/issuers/iss-local/rotations", .json(["key_algorithm": "dsa-1024"]))
            algorithm.expectError(.badRequest, "rotation_invalid", "unknown algorithm")
            let subject = try await stack.call(.post, "/api/v1/issuers/iss-local/rotations", .json(["subject": "nonsense"]))
            subject.expectError(.badRequest, "rotation_invalid", "bad subject")
            try await stack.expectRefused(.notFound, "issuer_not_found", .post, "/api/v1/issuers/iss-nope/rotations", .json([:]))
            try await stack.expectRefused(.conflict, "issuer_exists", .post, "/api/v1/issuers",
                                          .json(["id": "iss-local", "subject": "/CN=x"]))
            try await stack.expectRefused(.badRequest, "invalid_request", .post, "/api/v1/issuers", .json(["id": "Bad_Id", "subject": "/CN=x"]))
            try await stack.expectRefused(.forbidden, "forbidden", .post, "/api/v1/issuers/iss-local/rotations", .json([:]),
                                          auth: .role(.operator))
            try await stack.expectRefused(.forbidden, "forbidden", .post, "/api/v1/issuers", .json(["id": "x", "subject": "/CN=x"]),
                                          auth: .role(.auditor))
            let notPending = try await stack.call(.post, "/api/v1/issuers/iss-local/generations/1/certificate",
                                                  .json(["certificate_pem": String(contentsOfFile: stack.ca.certPath, encoding: .utf8)]))
            notPending.expectError(.conflict, "generation_not_pending", "active generation")
            #expect(try await stack.count("SELECT count(*) FROM issuer_generations") == 1, "nothing was made")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: stack.ca.directory + "/generations")) ?? []
            #expect(files.isEmpty, "no key was written for a refused rotation: \(files)")
        }
    }

    /// The CRLDistributionPoints URIs of a certificate.
    static func cdp(_ certificate: Certificate) throws -> [String] {
        guard let value = certificate.extensions[oid: CRLDistributionPoints.oid]?.value else { return [] }
        return try CRLDistributionPoints.uris(value)
    }

    @Test("certctl-admin doctor: one line per check; the signer's view of each key file, CA expiry, OCSP responders and CRL per generation; FAIL for a key file others can read and for a missing or expired CRL, warn for a CA with less than a year left")
    func doctor() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let doctor = Doctor(client: stack.client, signer: stack.signing, migrator: Migrator(migrations: try Migration.bundled()),
                                logger: TestEnvironment.logger)
            var checks = await doctor.run()
            let line = { (name: String) in checks.first { $0.name.hasPrefix(name) } }
            #expect(line("migrations")?.level == .ok)
            #expect(line("signer")?.level == .ok, "\(checks.map(\.line))")
            #expect(line("key file iss-local/1")?.level == .ok)
            #expect(line("key file iss-local/1")?.detail.contains(stack.ca.keyPath) == true)
            // the test CA lasts 30 days
            #expect(line("iss-local/1 (active) CA")?.level == .warn)
            #expect(line("iss-local/1 (active) CRL")?.level == .fail, "no certctl-crl runs here: none published")
            #expect(line("iss-local/1 (active) OCSP responders")?.level == .warn)

            try await TestEnvironment.execute("""
                INSERT INTO crl_cache (issuer_id, issuer_generation, crl_der, crl_number, this_update, next_update,
                                       generation_duration_ms, revoked_count)
                VALUES ('iss-local', 1, '\\x00', 7, now() - interval '2 hours', now() - interval '1 minute', 1, 0)
                """, stack.url)
            chmod(stack.ca.keyPath, 0o644)
            defer { chmod(stack.ca.keyPath, 0o600) }
            checks = await doctor.run()
            #expect(line("key file iss-local/1")?.level == .fail)
            #expect(line("key file iss-local/1")?.detail.contains("mode 644") == true, "\(checks.map(\.line))")
            #expect(line("iss-local/1 (active) CRL")?.level == .fail)
            #expect(line("iss-local/1 (active) CRL")?.detail.contains("number 7") == true)
            #expect(line("iss-local/1 (active) CRL")?.detail.contains("expired") == true)
            chmod(stack.ca.keyPath, 0o600)
            try await TestEnvironment.execute("UPDATE crl_cache SET next_update = now() + interval '3 hours'", stack.url)
            checks = await doctor.run()
            #expect(line("key file iss-local/1")?.level == .ok)
            #expect(line("iss-local/1 (active) CRL")?.level == .ok)
            #expect(checks.allSatisfy { !$0.line.isEmpty && $0.line.contains(": ") })
        }
    }

    static func certificate(subject: DistinguishedName, key: Certificate.PublicKey, issuer: DistinguishedName,
                            signer: P256.Signing.PrivateKey, isCA: Bool) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key, notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(30 * 86_400), issuer: issuer, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: 0) : BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyCertSign: isCA, cRLSign: isCA))
                SubjectKeyIdentifier(hash: key)
            },
            issuerPrivateKey: .init(signer))
    }
}
