import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import Logging
import Testing

/// The CRL publisher reads its entries in 1,024-entry chunks (a keyset walk over the serial
/// index); the signer digests the same set from its own read. Across chunk boundaries both
/// must see every entry once, in ascending serial order, or the signer refuses every CRL.
@Suite("CRL entries read", .timeLimit(.minutes(2)))
struct CRLEntriesReadTests {
    /// Adds `count` revoked certificates to iss-local generation 1 (every fifth with an invalidity date).
    static func revoke(_ count: Int, from first: Int, _ url: DatabaseURL) async throws {
        try await TestEnvironment.execute([
            """
            INSERT INTO certificates (id, issuer_id, issuer_generation, serial_hex, status, subject, not_before, not_after,
                                      certificate_der, requested_by)
            SELECT gen_random_uuid(), 'iss-local', 1, substr('123456789abcdef', 1 + i % 15, 1) || lpad(to_hex(i), 4, '0') || substr(md5(i::text), 2, 15), 'revoked',
                   'CN=t', now() - interval '1 day', now() + interval '30 days', '\\x00'::bytea, 'read-test'
            FROM generate_series(\(first), \(first + count - 1)) AS i
            """,
            """
            INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, invalidity_date, revoked_by)
            SELECT id, issuer_id, serial_hex, (ARRAY[0, 1, 4, 5])[1 + length(serial_hex) % 4], now() - interval '1 hour',
                   CASE WHEN serial_hex LIKE '%5' THEN now() - interval '2 days' END, 'read-test'
            FROM certificates c WHERE requested_by = 'read-test'
              AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.certificate_id = c.id)
            """,
        ], url)
    }

    /// What the publisher reads, as the lines the signer digests, and whether each serial rose.
    static func publisherRead(_ client: DatabaseClient, cut: Int64) async throws -> (lines: [String], ascending: Bool) {
        let store = CRLStore(client: client, logger: Logger(label: "test"))
        return try await store.withGenerationLock("iss-local", generation: 1) { session in
            var lines: [String] = []
            var ascending = true
            var previous = ""
            try await session.revocations(expiredBefore: Date().addingTimeInterval(-3600), cut: cut) { serial, revokedAt, reason, invalidity in
                let hex = String(decoding: serial, as: UTF8.self)
                if !previous.isEmpty && !(previous < hex) { ascending = false }
                previous = hex
                lines.append("\(hex) \(revokedAt) \(reason) \(invalidity.map(String.init) ?? "-")")
            }
            return (lines, ascending)
        }
    }

    @Test("0, 1,023, 1,024, 1,025 and 2,600 entries: the publisher reads each once in ascending order, and the signer's digest of its own read matches")
    func chunkBoundaries() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            try await CRLPublisherTests.registerIssuer(ca, url)
            try await TestEnvironment.withClient(url) { client in
                var total = 0
                for size in [0, 1_023, 1_024, 1_025, 2_600] {
                    try await Self.revoke(size - total, from: total + 1, url)
                    total = size
                    let cut = Int64(try await TestEnvironment.scalar("SELECT COALESCE(max(change_seq), 0) FROM certificate_revocations", url) ?? 0)
                    let read = try await Self.publisherRead(client, cut: cut)
                    #expect(read.lines.count == size, "\(size) entries")
                    #expect(Set(read.lines).count == size, "no entry twice at \(size)")
                    #expect(read.ascending, "ascending at \(size)")
                    let expected = try #require(try await SignerStore(client: client, logger: Logger(label: "test"))
                        .expectedCRL(issuerID: "iss-local", generation: 1, cut: cut, staleAfter: .seconds(3600)))
                    #expect(expected.entries.count == size)
                    #expect(Array(SHA256.hash(data: Data(read.lines.joined(separator: "\n").utf8))) == expected.entries.sha256,
                            "the signer's digest of its own read matches what the publisher read at \(size)")
                }
                // invalidity dates came through (every serial ending in 5)
                let withInvalidity = try await Self.publisherRead(client, cut: Int64.max).lines.filter { !$0.hasSuffix(" -") }.count
                #expect(withInvalidity == (try await TestEnvironment.scalar(
                    "SELECT count(*) FROM certificate_revocations WHERE invalidity_date IS NOT NULL", url) ?? -1))
                #expect(withInvalidity > 0)
            }
        }
    }
}
