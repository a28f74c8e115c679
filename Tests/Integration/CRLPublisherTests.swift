import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// certctl-crl as a process, without a reachable signer.
@Suite("CRL publisher", .timeLimit(.minutes(2)))
struct CRLPublisherTests {
    /// Registers the TestCA certificate as issuer `iss-local`, generation 1, the way the signer does.
    static func registerIssuer(_ ca: TestCA, _ url: DatabaseURL) async throws {
        let pem = try String(contentsOfFile: ca.certPath, encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = serializer.serializedBytes
        var subject = DER.Serializer()
        try subject.serialize(certificate.subject)
        let keyID = try certificate.extensions.subjectKeyIdentifier.map { Array($0.keyIdentifier) } ?? [1]
        let hex = { (bytes: [UInt8]) in "'\\x" + bytes.map { String(format: "%02x", $0) }.joined() + "'::bytea" }
        try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'test')", url)
        try await TestEnvironment.execute("""
            INSERT INTO issuer_generations (issuer_id, generation, certificate_der, subject_der, subject_key_id,
                name_hash_sha1, key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, not_before, not_after)
            VALUES ('iss-local', 1, \(hex(der)), \(hex(subject.serializedBytes)), \(hex(keyID)),
                '\\x00', '\\x00', '\\x00', '\\x00', 'ecdsa-p256', now() - interval '1 day', now() + interval '30 days')
            """, url)
    }

    @Test("no signer and no cached CRL: 503 with Retry-After, the failure recorded; unknown issuer 404")
    func signerDownWithoutCache() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            try await Self.registerIssuer(ca, url)
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["crl"])
            let port = freePort()
            let child = try ChildProcess(try TestEnvironment.binary("certctl-crl"), environment: [
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .crl), "CERTCTL_LOG_FORMAT": "text",
                "CERTCTL_CRL_LISTEN": "127.0.0.1:\(port)",
                "CERTCTL_SIGNER_ADDR": "127.0.0.1:\(freePort())",  // nothing listens there
            ].merging(identities.environment(for: "crl")) { a, _ in a })
            defer { child.signal(SIGKILL) }
            try await child.eventually("/readyz 200") { try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 200 }

            let response = try await HTTP.get("http://127.0.0.1:\(port)/.well-known/pki/crl/iss-local")
            #expect(response.status == 503)
            #expect(response.headers.lowercased().contains("retry-after: 30"))
            #expect(response.body.contains("no valid CRL"))
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM crl_cache", url) == 0, "nothing cached")
            try await child.eventually("a failed generation event naming the signer") {
                try await TestEnvironment.scalar("""
                    SELECT count(*) FROM crl_generation_events
                    WHERE issuer_id = 'iss-local' AND NOT succeeded AND error LIKE 'signer unavailable%'
                    """, url) ?? 0 > 0
            }
            let unknown = try await HTTP.get("http://127.0.0.1:\(port)/.well-known/pki/crl/iss-other")
            #expect(unknown.status == 404)
            let metrics = try await HTTP.get("http://127.0.0.1:\(port)/metrics").body
            #expect(metrics.contains(#"certctl_crl_requests_total{outcome="unavailable"} 1"#))
            #expect(metrics.contains(#"certctl_crl_generation_failures_total{reason="signer_unavailable"}"#))
            #expect(await child.stop() == 0)
        }
    }
}
