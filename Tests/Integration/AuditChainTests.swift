import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// The audit trail's hash chain (migration 0013, docs/audit.md): sealed by the
/// database, verified by recomputing every link in Swift, and broken at the
/// exact row a superuser tampered with.
@Suite("Audit hash chain", .timeLimit(.minutes(2)))
struct AuditChainTests {
    let logger = TestEnvironment.logger

    static func insert(_ count: Int, actor: String, on client: DatabaseClient) async throws {
        let log = AuditLog(client: client, logger: TestEnvironment.logger)
        for n in 0..<count {
            try await log.record(AuditRecord(
                service: "admin", actor: actor, action: "test.event", outcome: n % 3 == 0 ? .failure : .success,
                targetType: n % 2 == 0 ? "thing" : nil, targetID: "\(n)", errorCode: n % 3 == 0 ? "broken" : nil,
                details: ["n": "\(n)", "text": "ünïcode \"quoted\" \\ back"]))
        }
    }

    /// Verifies the whole chain page by page, as the CLI does.
    static func verifyAll(_ chain: AuditChain, page: Int = 7) async throws -> (checked: Int, broken: AuditChain.Break?) {
        var next: Int64? = 1, checked = 0
        while let from = next {
            let result = try await chain.verify(fromSeq: from, limit: page)
            checked += result.checked
            if let broken = result.firstBroken { return (checked, broken) }
            next = result.nextSeq
        }
        return (checked, nil)
    }

    @Test("rows inserted by concurrent writers while two sealers run get one dense chain that verifies, in pages or at once")
    func concurrentWritersOneChain() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.withClient(url) { client in
                let chain = AuditChain(client: client, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<4 {
                        group.addTask { try await Self.insert(60, actor: "writer-\(writer)", on: client) }
                    }
                    for _ in 0..<2 {
                        group.addTask { for _ in 0..<30 { try await chain.seal(maxRows: 25) } }
                    }
                    try await group.waitForAll()
                }
                try await chain.sealAll()
                let head = try await chain.head()
                #expect(head.seq == 240 && head.unsealed == 0)
                #expect(try await TestEnvironment.scalar(
                    "SELECT count(DISTINCT chain_seq) FROM audit_events WHERE chain_seq BETWEEN 1 AND 240", url) == 240,
                        "one link per row, no gaps and no fork")
                let paged = try await Self.verifyAll(chain)
                #expect(paged.checked == 240 && paged.broken == nil)
                let whole = try await chain.verify(fromSeq: 1, limit: 100_000)
                #expect(whole.ok && whole.checked == 240 && whole.nextSeq == nil)
                #expect(try await chain.verifyAnchor(seq: head.seq, hash: head.hash) == nil)
            }
        }
    }

    @Test("a superuser with triggers off who edits a row, re-hashes a row, deletes a row or the newest rows is named by verify")
    func tamperingIsNamed() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.withClient(url) { client in
                let chain = AuditChain(client: client, logger: logger)
                try await Self.insert(20, actor: "alice", on: client)
                try await chain.sealAll()
                let anchored = try await chain.head()
                #expect(try await Self.verifyAll(chain).broken == nil)
                func id(_ seq: Int) async throws -> Int64 {
                    Int64(try #require(try await TestEnvironment.scalar("SELECT id FROM audit_events WHERE chain_seq = \(seq)", url)))
                }
                func tamper(_ statements: String...) async throws {
                    try await TestEnvironment.execute(["SET session_replication_role = replica"] + statements, url)
                }

                // 1. A changed actor: the row's own link fails.
                let fifth = try await id(5)
                try await tamper("UPDATE audit_events SET actor = 'mallory' WHERE chain_seq = 5")
                let edited = try await Self.verifyAll(chain)
                #expect(edited.broken?.seq == 5 && edited.broken?.id == fifth, "\(String(describing: edited.broken))")
                #expect(edited.checked == 4)
                try await tamper("UPDATE audit_events SET actor = 'alice' WHERE chain_seq = 5")
                #expect(try await Self.verifyAll(chain).broken == nil, "restored content verifies again")

                // 2. Changed details with the row's hash recomputed: the next row's link fails.
                try await tamper(
                    "UPDATE audit_events SET details = '{\"n\": \"x\"}'::jsonb WHERE chain_seq = 7",
                    """
                    UPDATE audit_events e SET chain_hash = sha256(
                        (SELECT chain_hash FROM audit_events WHERE chain_seq = 6) || audit_event_canonical(e, 7)) WHERE chain_seq = 7
                    """)
                #expect(try await Self.verifyAll(chain).broken?.seq == 8, "the re-hashed row breaks the link after it")
                let anchorCheck = try await chain.verifyAnchor(seq: anchored.seq, hash: anchored.hash)
                #expect(anchorCheck == nil, "the head's own link was not rewritten")

                // 3. A deleted row: its sequence number is missing.
                let fromNine = try await chain.verify(fromSeq: 9, limit: 100)
                #expect(fromNine.ok, "the links after 8 still hold among themselves")
                try await tamper("DELETE FROM audit_events WHERE chain_seq = 12")
                let gap = try await chain.verify(fromSeq: 9, limit: 100)
                #expect(gap.firstBroken?.seq == 12 && gap.firstBroken?.reason.contains("missing") == true)

                // 4. Everything rewritten consistently (head included) still differs from the anchor kept elsewhere.
                try await tamper(
                    "UPDATE audit_chain_head SET hash = decode(repeat('ab', 32), 'hex')",
                    "UPDATE audit_events SET chain_hash = decode(repeat('ab', 32), 'hex') WHERE chain_seq = \(anchored.seq)")
                #expect(try await chain.verifyAnchor(seq: anchored.seq, hash: anchored.hash)?.seq == anchored.seq)

                // 5. The newest rows deleted: the head knows there were more.
                try await tamper("DELETE FROM audit_events WHERE chain_seq >= 19")
                let tail = try await chain.verify(fromSeq: 14, limit: 100)
                #expect(tail.firstBroken?.seq == 19, "\(String(describing: tail.firstBroken))")
            }
        }
    }

    @Test("the trail stays append-only for the owner: only sealing an unsealed row may UPDATE it, and no service role may seal by hand")
    func sealingIsTheOnlyUpdate() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.withClient(url) { client in
                try await Self.insert(2, actor: "alice", on: client)
                try await AuditChain(client: client, logger: logger).sealAll()
            }
            #expect(try await TestEnvironment.sqlState("UPDATE audit_events SET chain_seq = 99 WHERE chain_seq = 1", url) == "42501")
            #expect(try await TestEnvironment.sqlState("UPDATE audit_events SET chain_hash = NULL, chain_seq = NULL", url) == "42501")
            try await TestEnvironment.execute(
                "INSERT INTO audit_events (service, actor, action, outcome) VALUES ('admin', 'bob', 'x', 'success')", url)
            #expect(try await TestEnvironment.sqlState(
                "UPDATE audit_events SET chain_seq = 3, chain_hash = sha256('x'), actor = 'eve' WHERE chain_seq IS NULL", url) == "42501",
                    "sealing may not change the content")
            let admin = TestEnvironment.url(url, as: .admin)
            #expect(try await TestEnvironment.sqlState(
                "INSERT INTO audit_events (service, actor, action, outcome, chain_seq, chain_hash) VALUES ('admin', 'x', 'y', 'success', 3, sha256('x'))",
                TestEnvironment.url(url, as: .crl)) == "42501", "a service cannot insert its own link")
            #expect(try await TestEnvironment.sqlState("SELECT audit_seal(10)", TestEnvironment.url(url, as: .crl)) == "42501")
            #expect(try await TestEnvironment.sqlState("SELECT audit_seal(10)", admin) == nil)
            #expect(try await TestEnvironment.sqlState("UPDATE audit_chain_head SET seq = 0", admin) == "42501")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM audit_events WHERE chain_seq IS NULL", url) == 0)
        }
    }
}
