import CertctlConfig
import CertctlPKI
@testable import CertctlOCSPCore
import CertctlStore
import Foundation
import Testing

/// certctl-ocsp's core on a hot standby (docs/scaling.md), on a real Postgres
/// and signer: the role is set as StandbyMonitor sets it after
/// `pg_is_in_recovery()` (a real streaming standby: scripts/drills/ocsp-standby.sh).
@Suite("OCSP replica on a standby", .timeLimit(.minutes(2)))
struct OCSPStandbyTests {
    static func serialHex(_ serial: [UInt8]) throws -> String {
        try #require(SerialNumber.canonicalHex(ofDERInteger: serial[...]))
    }

    static func revoke(_ serial: [UInt8], _ url: DatabaseURL) async throws {
        let hex = try serialHex(serial)
        try await TestEnvironment.execute(["""
            INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
            SELECT id, 'iss-local', serial_hex, 1, now(), 'tests' FROM certificates WHERE serial_hex = '\(hex)'
            """, "UPDATE certificates SET status = 'revoked' WHERE serial_hex = '\(hex)'"], url)
    }

    @Test("on a standby nothing is written: answers are not stored, the responder certificate is kept in memory (certified once); after a promotion both are recorded")
    func writesNothing() async throws {
        try await OCSPResponderCoreTests.withCore { h in
            h.core.standby.role.set(.standby)
            for _ in 0..<2 {
                let (_, response) = try await h.ask([try h.certID(h.good)])
                #expect(try #require(response.responseData?.responses).map(\.certStatus) == [.good])
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_response_cache", h.url) == 0)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_responder_certs", h.url) == 0)
            // past the responder's recheck interval: the unrecorded certificate is kept, not certified again
            try await Task.sleep(for: .milliseconds(1100))
            let (_, unknown) = try await h.ask([try h.certID(h.unknown)])
            #expect(try #require(unknown.responseData?.responses).map(\.certStatus) == [.unknown])
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE request_source = 'ocsp-responder'", h.url) == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_responder_certs", h.url) == 0)

            h.core.standby.role.set(.primary)   // promoted
            try await Task.sleep(for: .milliseconds(1100))
            let (_, revoked) = try await h.ask([try h.certID(h.revoked)])
            #expect(try #require(revoked.responseData?.responses).map(\.certStatus)
                    == [.revoked(time: Date(timeIntervalSince1970: 1_795_000_000), reason: 1)])
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_responder_certs", h.url) == 1,
                    "the certificate issued on the standby is recorded")
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE request_source = 'ocsp-responder'", h.url) == 1, "and not issued again")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM ocsp_response_cache", h.url) == 1,
                    "the promoted replica shares its answer again")
        }
    }

    @Test("on a standby memory answers only while the revocation poll is recent (at most 1 s old)")
    func memoryFollowsThePoll() async throws {
        try await OCSPResponderCoreTests.withCore { h in
            h.core.standby.role.set(.standby)
            // never polled: memory is not used, a revocation shows at once
            _ = try await h.ask([try h.certID(h.good)])
            try await Self.revoke(h.good, h.url)
            let (_, unpolled) = try await h.ask([try h.certID(h.good)])
            guard case .revoked = try #require(unpolled.responseData?.responses.first).certStatus else {
                Issue.record("memory answered although the poller never polled"); return
            }
            // polled: memory answers (here: a revocation no poll has evicted yet)…
            let serial = SerialNumber.random()
            try await TestEnvironment.execute("""
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, requested_by, certificate_der, not_after)
                VALUES ('iss-local', 1, '\(try Self.serialHex(serial))', 'issued', 'tests', '\\x30', now() + interval '30 days')
                """, h.url)
            h.core.standby.recordPoll()
            _ = try await h.ask([try h.certID(serial)])
            try await Self.revoke(serial, h.url)
            h.core.standby.recordPoll()
            let (_, memory) = try await h.ask([try h.certID(serial)])
            #expect(try #require(memory.responseData?.responses).map(\.certStatus) == [.good], "served from memory")
            // …until the poll is older than 1 s: then Postgres is asked again
            try await Task.sleep(for: .milliseconds(1100))
            let (_, stale) = try await h.ask([try h.certID(serial)])
            guard case .revoked = try #require(stale.responseData?.responses.first).certStatus else {
                Issue.record("memory answered with a poll older than 1 s"); return
            }
        }
    }
}
