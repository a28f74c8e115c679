import CertctlConfig
import CertctlOCSPCore
import CertctlPKI
import CertctlStore
import Foundation
import Testing

/// The refresh loop as certctl-ocsp runs it, with a real signer certifying
/// its responder key: a full sweep first, then ticks that sign only what
/// changed, and a later sweep for what the ticks cannot see.
@Suite("OCSP refresh loop", .timeLimit(.minutes(2)))
struct OCSPRefreshLoopTests {
    func rows(_ serial: String, _ url: DatabaseURL) async throws -> String? {
        try await TestEnvironment.text("""
            SELECT string_agg(hash_algorithm || ':' || cert_status, ',' ORDER BY hash_algorithm)
            FROM ocsp_response_cache WHERE serial_hex = '\(serial)'
            """, url)
    }

    /// Ticks until one signs nothing (at most `limit`); returns what they signed.
    func settle(_ loop: RefreshLoop, _ progress: inout RefreshLoop.Progress, limit: Int = 4) async throws -> (signed: Int, ticks: Int) {
        var signed = 0
        for tick in 1...limit {
            let count = try await loop.tick(&progress)
            if count == 0 { return (signed, tick) }
            signed += count
        }
        return (signed, limit + 1)
    }

    @Test("the first tick is a full sweep in pages; later ticks sign a revocation's rows and nothing else; a row deleted by hand waits for the next sweep")
    func sweepThenTicks() async throws {
        try await OCSPResponderCoreTests.withCore { h in
            let good = try #require(SerialNumber.canonicalHex(ofDERInteger: h.good[...]))
            let revoked = try #require(SerialNumber.canonicalHex(ofDERInteger: h.revoked[...]))
            // an issued certificate from yesterday: neither new nor revoked
            let old = try #require(SerialNumber.canonicalHex(ofDERInteger: SerialNumber.random()[...]))
            try await TestEnvironment.execute("""
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, requested_by, certificate_der,
                                          not_after, created_at)
                VALUES ('iss-local', 1, '\(old)', 'issued', 'tests', '\\x30', now() + interval '30 days', now() - interval '1 day')
                """, h.url)
            // batches of 4 answers: sweep pages of 2 certificates
            let loop = RefreshLoop(core: h.core, interval: .seconds(1), fullSweepInterval: .seconds(3600), batch: 4,
                                   logger: TestEnvironment.logger)
            var progress = RefreshLoop.Progress()
            #expect(progress.sweep != nil, "a replica starts with a sweep")
            let swept = try await loop.tick(&progress)
            #expect(swept >= 6)
            #expect(progress.sweep == nil && progress.watermark != nil && progress.lastSweep != nil)
            #expect(try await rows(good, h.url) == "sha1:good,sha256:good")
            #expect(try await rows(revoked, h.url) == "sha1:revoked,sha256:revoked")
            #expect(try await rows(old, h.url) == "sha1:good,sha256:good")
            // the responder certificate bootstrapped by the sweep's first signature is new: a tick may sign it
            let quiet = try await settle(loop, &progress)
            #expect(quiet.ticks <= 2, "ticks settle: \(quiet)")
            #expect(try await loop.tick(&progress) == 0, "nothing changed, nothing signed")

            try await TestEnvironment.execute("""
                INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                SELECT id, issuer_id, serial_hex, 4, now(), 'tests' FROM certificates WHERE serial_hex = '\(good)'
                """, h.url)
            try await TestEnvironment.execute("UPDATE certificates SET status = 'revoked' WHERE serial_hex = '\(good)'", h.url)
            #expect(try await loop.tick(&progress) == 2, "the revoked serial's two rows, nothing else")
            #expect(try await rows(good, h.url) == "sha1:revoked,sha256:revoked")
            let (_, response) = try await h.ask([try h.certID(h.good, .sha256)])
            let status = try #require(response.responseData?.responses.first?.certStatus)
            guard case .revoked(_, let reason) = status else { Issue.record("served \(status)"); return }
            #expect(reason == 4)

            try await TestEnvironment.execute(
                "DELETE FROM ocsp_response_cache WHERE serial_hex = '\(old)' AND hash_algorithm = 'sha1'", h.url)
            #expect(try await loop.tick(&progress) == 0, "an old certificate's missing row is not a change")
            #expect(try await rows(old, h.url) == "sha256:good")
            let sweeping = RefreshLoop(core: h.core, interval: .seconds(1), fullSweepInterval: .zero, batch: 4,
                                       logger: TestEnvironment.logger)
            #expect(try await sweeping.tick(&progress) == 1, "the sweep, once due, signs it again")
            #expect(try await rows(old, h.url) == "sha1:good,sha256:good")
        }
    }
}
