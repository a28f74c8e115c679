import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// What the OCSP tier relies on in Postgres: pre-signed rows that cannot
/// outlive a revocation, one refreshing replica at a time, responder rows per key.
@Suite("OCSP store", .timeLimit(.minutes(2)))
struct OCSPStoreTests {
    let logger = TestEnvironment.logger

    /// An issuer with one generation and one issued certificate (serial `aa…`).
    func seed(_ url: DatabaseURL, serial: String) async throws {
        // one statement per call (the extended protocol runs one at a time)
        try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-t', 't')", url)
        try await TestEnvironment.execute("""
            INSERT INTO issuer_generations (issuer_id, generation, certificate_der, subject_der, subject_key_id,
                name_hash_sha1, key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, not_before, not_after)
            VALUES ('iss-t', 1, '\\x30', '\\x30', '\\x01', '\\x01', '\\x02', '\\x03', '\\x04', 'ecdsa-p256',
                now() - interval '1 day', now() + interval '1 year')
            """, url)
        try await TestEnvironment.execute("""
            INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, certificate_der, requested_by, not_after)
            VALUES ('iss-t', 1, '\(serial)', 'issued', '\\x30', 'tests', now() + interval '30 days')
            """, url)
    }

    func row(_ serial: String, status: String = "good", seq: Int64? = nil) -> OCSPStoredResponse {
        OCSPStoredResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1", generation: 1, certStatus: status,
                           responseDER: [0x30, 0x00], thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(3600),
                           revocationSeq: seq)
    }

    @Test("a pre-signed good row is ignored once the serial is revoked, and a row built after it is served")
    func staleRowsAreIgnored() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let serial = "7a" + String(repeating: "1", count: 38)
            try await seed(url, serial: serial)
            try await TestEnvironment.withClient(url) { client in
                let store = OCSPStore(client: client, logger: logger)
                #expect(try await store.shareResponse(row(serial), margin: 60) == nil, "the first answer offered is stored")
                #expect(try await store.currentResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1")?.certStatus == "good")
                // a second replica's answer for the same state loses: it is told the stored one, and nothing changes
                var other = row(serial)
                other.responseDER = [0x30, 0x01, 0x00]
                #expect(try await store.shareResponse(other, margin: 60)?.responseDER == [0x30, 0x00])
                #expect(try await store.currentResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1")?.responseDER == [0x30, 0x00])
                // …unless the stored one is within the margin of its nextUpdate
                #expect(try await store.shareResponse(other, margin: 7200) == nil)
                #expect(try await store.currentResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1")?.responseDER == [0x30, 0x01, 0x00])
                try await TestEnvironment.execute("""
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                    SELECT id, issuer_id, serial_hex, 1, now(), 'tests' FROM certificates WHERE serial_hex = '\(serial)'
                    """, url)
                #expect(try await store.currentResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1") == nil,
                        "the good row predates the revocation")
                let state = try #require(try await store.certificateState(issuerID: "iss-t", serialHex: serial))
                guard case .revoked(_, let reason) = state.status else { Issue.record("not revoked: \(state)"); return }
                #expect(reason == 1)
                // the good row is no longer current, so the revoked answer replaces it
                #expect(try await store.shareResponse(row(serial, status: "revoked", seq: state.revocationSeq), margin: 60) == nil)
                #expect(try await store.currentResponse(issuerID: "iss-t", serialHex: serial, hashAlgorithm: "sha1")?.certStatus == "revoked")
                #expect(try await store.certificateState(issuerID: "iss-t", serialHex: "123") == nil)
            }
        }
    }

    @Test("only one replica refreshes at a time; the batch lists both hash algorithms of unexpired certificates")
    func refreshIsExclusive() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let serial = "6b" + String(repeating: "2", count: 38)
            try await seed(url, serial: serial)
            try await TestEnvironment.withClient(url) { first in
                try await TestEnvironment.withClient(url) { second in
                    let a = OCSPStore(client: first, logger: logger)
                    let b = OCSPStore(client: second, logger: logger)
                    let signed = try await a.refreshBatch(.sweep(after: nil), margin: .seconds(60), limit: 100) { candidates in
                        #expect(Set(candidates.map(\.hashAlgorithm)) == ["sha1", "sha256"])
                        #expect(candidates.allSatisfy { $0.serialHex == serial && $0.state.status == .good })
                        // while the first holds the lock, a second replica skips its tick
                        let other = try await b.refreshBatch(.sweep(after: nil), margin: .seconds(60), limit: 100) { _ in [] }
                        #expect(other == nil)
                        return candidates.map { row($0.serialHex).with(hash: $0.hashAlgorithm) }
                    }
                    #expect(signed?.signed == 2)
                    #expect(try await b.refreshBatch(.sweep(after: nil), margin: .seconds(60), limit: 100) { _ in [] }?.candidates == 0,
                            "nothing left to refresh")
                }
            }
        }
    }

    @Test("responder rows are per key: two replicas' keys coexist, the same key is replaced")
    func responderRowsPerKey() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await seed(url, serial: "1234567890abcdef12")
            try await TestEnvironment.withClient(url) { client in
                let store = OCSPResponderStore(client: client, logger: logger)
                func record(_ key: String, serial: String) -> OCSPResponderRecord {
                    OCSPResponderRecord(issuerID: "iss-t", generation: 1, keyID: key, subject: "CN=r", serialHex: serial,
                                        certificateDER: [0x30], keyPath: "/k/\(key)", notBefore: Date(),
                                        notAfter: Date().addingTimeInterval(86_400))
                }
                try await store.save(record("k1", serial: "aaaaaaaaaaaaaaaaaa"))
                try await store.save(record("k2", serial: "bbbbbbbbbbbbbbbbbb"))
                try await store.save(record("k1", serial: "cccccccccccccccccc"))
                #expect(try await store.find(issuerID: "iss-t", generation: 1, keyID: "k1")?.serialHex == "cccccccccccccccccc")
                #expect(try await store.find(issuerID: "iss-t", generation: 1, keyID: "k2")?.serialHex == "bbbbbbbbbbbbbbbbbb")
                #expect(try await store.find(issuerID: "iss-t", generation: 1, keyID: "k3") == nil)
                #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_responder_certs", url) == 2)
            }
        }
    }
}

extension OCSPStoredResponse {
    func with(hash: String) -> OCSPStoredResponse {
        var copy = self
        copy.hashAlgorithm = hash
        return copy
    }
}
