import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// The pre-signing refresh reads only what changed between full sweeps: rows
/// coming due, revocation changes past the watermark, new certificates. The
/// full sweep still finds what those reads cannot see.
@Suite("OCSP refresh", .timeLimit(.minutes(2)))
struct OCSPRefreshTests {
    let logger = TestEnvironment.logger
    let margin = Duration.seconds(600)

    /// Serials of the five certificates, named by what happens to them.
    static let current = "a1" + String(repeating: "0", count: 30)
    static let comingDue = "a2" + String(repeating: "0", count: 30)
    static let revoked = "a3" + String(repeating: "0", count: 30)
    static let new = "a4" + String(repeating: "0", count: 30)
    static let oldWithoutRow = "a5" + String(repeating: "0", count: 30)

    func seedIssuer(_ url: DatabaseURL) async throws {
        try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-r', 'r')", url)
        try await TestEnvironment.execute("""
            INSERT INTO issuer_generations (issuer_id, generation, certificate_der, subject_der, subject_key_id,
                name_hash_sha1, key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, not_before, not_after)
            VALUES ('iss-r', 1, '\\x30', '\\x30', '\\x01', '\\x01', '\\x02', '\\x03', '\\x04', 'ecdsa-p256',
                now() - interval '1 day', now() + interval '1 year')
            """, url)
    }

    /// An issued certificate created `age` ago; with `rows`, both CertIDs pre-signed, nextUpdate in an hour.
    func seedCertificate(_ url: DatabaseURL, serial: String, age: String, rows: Bool) async throws {
        try await TestEnvironment.execute("""
            INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, certificate_der, requested_by,
                                      not_after, created_at)
            VALUES ('iss-r', 1, '\(serial)', 'issued', '\\x30', 'tests', now() + interval '30 days', now() - interval '\(age)')
            """, url)
        guard rows else { return }
        try await TestEnvironment.execute("""
            INSERT INTO ocsp_response_cache (issuer_id, serial_hex, hash_algorithm, cert_status, response_der,
                                             this_update, next_update, issuer_generation, revocation_seq)
            SELECT 'iss-r', '\(serial)', alg, 'good', '\\x3000', now(), now() + interval '1 hour', 1, NULL
            FROM (VALUES ('sha1'), ('sha256')) AS a(alg)
            """, url)
    }

    /// The rows a responder would sign for `candidates` (nextUpdate in an hour).
    static func signed(_ candidates: [OCSPRefreshCandidate]) -> [OCSPStoredResponse] {
        candidates.map {
            let revoked = if case .revoked = $0.state.status { true } else { false }
            return OCSPStoredResponse(issuerID: $0.issuerID, serialHex: $0.serialHex, hashAlgorithm: $0.hashAlgorithm,
                                      generation: $0.generation, certStatus: revoked ? "revoked" : "good",
                                      responseDER: [0x30, 0x00], thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(3600),
                                      revocationSeq: $0.state.revocationSeq)
        }
    }

    /// One batch; returns the candidates as "serial/alg" (signing them when `sign`) and the outcome.
    func batch(_ store: OCSPStore, _ scope: OCSPRefreshScope, limit: Int = 100, sign: Bool = true)
        async throws -> (keys: Set<String>, outcome: OCSPRefreshOutcome) {
        let seen = Mutex<[OCSPRefreshCandidate]>([])
        let outcome = try await store.refreshBatch(scope, margin: margin, limit: limit) { candidates in
            seen.withLock { $0 = candidates }
            return sign ? Self.signed(candidates) : []
        }
        let candidates = seen.withLock { $0 }
        return (Set(candidates.map { "\($0.serialHex)/\($0.hashAlgorithm)" }), try #require(outcome))
    }

    func keys(_ serial: String, _ algorithms: String...) -> Set<String> { Set(algorithms.map { "\(serial)/\($0)" }) }

    @Test("an incremental tick finds a row coming due, a revoked serial's stale rows and a new certificate, and nothing when nothing changed")
    func incrementalReadsOnlyChanges() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await seedIssuer(url)
            for serial in [Self.current, Self.comingDue, Self.revoked] {
                try await seedCertificate(url, serial: serial, age: "1 day", rows: true)
            }
            try await seedCertificate(url, serial: Self.oldWithoutRow, age: "1 day", rows: false)
            try await TestEnvironment.withClient(url) { client in
                let store = OCSPStore(client: client, logger: logger)
                let watermark = try await store.revocationHighWater()
                let scope = OCSPRefreshScope.incremental(revocationsAfter: watermark, createdAfter: Date().addingTimeInterval(-60))

                let idle = try await batch(store, scope)
                #expect(idle.keys.isEmpty, "nothing changed; the old certificate without a row is the sweep's")
                #expect(idle.outcome.candidates == 0 && idle.outcome.signed == 0)
                #expect(idle.outcome.revocationHighWater == watermark)

                try await TestEnvironment.execute("""
                    UPDATE ocsp_response_cache SET next_update = now() + interval '5 minutes'
                    WHERE serial_hex = '\(Self.comingDue)' AND hash_algorithm = 'sha256'
                    """, url)
                try await TestEnvironment.execute("""
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                    SELECT id, issuer_id, serial_hex, 4, now(), 'tests' FROM certificates WHERE serial_hex = '\(Self.revoked)'
                    """, url)
                try await TestEnvironment.execute("UPDATE certificates SET status = 'revoked' WHERE serial_hex = '\(Self.revoked)'", url)
                try await seedCertificate(url, serial: Self.new, age: "0 seconds", rows: false)

                let seen = Mutex<[OCSPRefreshCandidate]>([])
                let outcome = try #require(try await store.refreshBatch(scope, margin: margin, limit: 100) { candidates in
                    seen.withLock { $0 = candidates }
                    return Self.signed(candidates)
                })
                let candidates = seen.withLock { $0 }
                #expect(Set(candidates.map { "\($0.serialHex)/\($0.hashAlgorithm)" })
                        == keys(Self.comingDue, "sha256").union(keys(Self.revoked, "sha1", "sha256")).union(keys(Self.new, "sha1", "sha256")))
                #expect(outcome.signed == 5)
                #expect(outcome.revocationHighWater > watermark)
                for candidate in candidates where candidate.serialHex == Self.revoked {
                    guard case .revoked(_, let reason) = candidate.state.status else { Issue.record("not revoked: \(candidate)"); continue }
                    #expect(reason == 4)
                    #expect(candidate.state.revocationSeq == outcome.revocationHighWater)
                }
                #expect(try await store.currentResponse(issuerID: "iss-r", serialHex: Self.revoked, hashAlgorithm: "sha1")?.certStatus == "revoked")

                let again = try await batch(store, scope)
                #expect(again.keys.isEmpty, "everything the tick signed is current now")
                #expect(try await TestEnvironment.scalar(
                    "SELECT count(*)::int FROM ocsp_response_cache WHERE serial_hex = '\(Self.oldWithoutRow)'", url) == 0)
            }
        }
    }

    @Test("the full sweep pages through every certificate and finds the old certificate's missing rows; only its first page drops orphans")
    func sweepFindsWhatTicksCannotSee() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await seedIssuer(url)
            for serial in [Self.current, Self.comingDue, Self.revoked] {
                try await seedCertificate(url, serial: serial, age: "1 day", rows: true)
            }
            try await seedCertificate(url, serial: Self.oldWithoutRow, age: "1 day", rows: false)
            // a row whose certificate is gone, and one past its nextUpdate
            try await TestEnvironment.execute("""
                INSERT INTO ocsp_response_cache (issuer_id, serial_hex, hash_algorithm, cert_status, response_der,
                                                 this_update, next_update, issuer_generation)
                VALUES ('iss-r', 'b1', 'sha1', 'good', '\\x3000', now(), now() + interval '1 hour', 1),
                       ('iss-r', 'b2', 'sha1', 'good', '\\x3000', now() - interval '2 hours', now() - interval '1 hour', 1)
                """, url)
            try await TestEnvironment.withClient(url) { client in
                let store = OCSPStore(client: client, logger: logger)
                let tick = try await batch(store, .incremental(revocationsAfter: try await store.revocationHighWater(),
                                                               createdAfter: Date().addingTimeInterval(-60)))
                #expect(tick.keys.isEmpty)
                #expect(try await TestEnvironment.scalar(
                    "SELECT count(*)::int FROM ocsp_response_cache WHERE serial_hex IN ('b1', 'b2')", url) == 1,
                    "a tick drops only rows past nextUpdate")

                // one certificate per page: four full pages, then an empty one ends the sweep
                var after: OCSPSweepCursor?
                var pages = 0
                var found: Set<String> = []
                repeat {
                    let page = try await batch(store, .sweep(after: after), limit: 2, sign: false)
                    found.formUnion(page.keys)
                    pages += 1
                    if pages == 1 {
                        #expect(try await TestEnvironment.scalar(
                            "SELECT count(*)::int FROM ocsp_response_cache WHERE serial_hex = 'b1'", url) == 0,
                            "the sweep's first page drops the row of a certificate that does not exist")
                    }
                    #expect(page.outcome.next == nil || page.outcome.next?.serialHex != after?.serialHex, "the sweep moves on")
                    after = page.outcome.next
                } while after != nil && pages < 10
                #expect(pages == 5)
                #expect(found == keys(Self.oldWithoutRow, "sha1", "sha256"))

                let full = try await batch(store, .sweep(after: nil))
                #expect(full.keys == keys(Self.oldWithoutRow, "sha1", "sha256"))
                #expect(full.outcome.signed == 2 && full.outcome.next == nil)
                #expect(try await batch(store, .sweep(after: nil)).keys.isEmpty, "nothing left after the sweep")
            }
        }
    }
}
