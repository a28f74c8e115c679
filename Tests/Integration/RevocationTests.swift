import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

@Suite("Revocation in one transaction", .timeLimit(.minutes(1)))
struct RevocationTests {
    let logger = TestEnvironment.logger

    /// An issued certificate row (the DER content does not matter here).
    func issued(_ url: DatabaseURL, serial: String, status: String = "issued") async throws -> UUID {
        let id = UUID()
        try await TestEnvironment.execute("""
            INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local') ON CONFLICT DO NOTHING
            """, url)
        try await TestEnvironment.execute("""
            INSERT INTO certificates (id, issuer_id, serial_hex, status, requested_by, certificate_der)
            VALUES ('\(id.uuidString.lowercased())', 'iss-local', '\(serial)', '\(status)', 'tests', '\\x3000')
            """, url)
        return id
    }

    @Test("revoking writes the row, the status, one audit event and a NOTIFY; revoking again changes nothing")
    func revokeOnceNotify() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let id = try await issued(url, serial: "abc123")
            let listener = NotificationListener(url: url, channel: NotifyChannel.revocations, logger: logger)
            let logger = self.logger
            try await listener.withEvents { events in
                var iterator = events.makeAsyncIterator()
                #expect(await iterator.next() == .subscribed)
                let changed = try await TestEnvironment.withClient(url) { client in
                    let store = RevocationStore(client: client, logger: logger)
                    let request = RevocationRequest(certificateID: id, reasonCode: 1, invalidityDate: nil, actor: "alice", service: "admin")
                    return [try await store.revoke(request), try await store.revoke(request)]
                }
                #expect(changed == [true, false])
                #expect(await iterator.next() == .notification("iss-local:abc123"))
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificate_revocations WHERE reason_code = 1", url) == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'revoked'", url) == 1)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND actor = 'alice'", url) == 1)
        }
    }

    @Test("a hold can be lifted with removeFromCRL, and removeFromCRL without a hold is refused")
    func holdAndRelease() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let id = try await issued(url, serial: "beef")
            let logger = self.logger
            let (premature, outcomes) = try await TestEnvironment.withClient(url) { client in
                let store = RevocationStore(client: client, logger: logger)
                func revoke(_ code: Int) async throws -> Bool {
                    try await store.revoke(RevocationRequest(certificateID: id, reasonCode: code, invalidityDate: nil, actor: "bob", service: "admin"))
                }
                var premature: RevocationStoreError?
                do { _ = try await revoke(8) } catch let error as RevocationStoreError { premature = error }
                // hold, release, hold again, make it permanent, repeat the permanent revocation
                var outcomes: [Bool] = []
                for code in [6, 8, 6, 1, 1] { outcomes.append(try await revoke(code)) }
                return (premature, outcomes)
            }
            #expect(premature == .notRevocable("removeFromCRL applies only to a certificate on hold"))
            #expect(outcomes == [true, true, true, true, false])
            #expect(try await TestEnvironment.scalar("SELECT reason_code::int FROM certificate_revocations", url) == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'revoked'", url) == 1)
        }
    }

    @Test("pending and failed certificates cannot be revoked, and an unknown id is not found; nothing changes")
    func notRevocable() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let pending = try await issued(url, serial: "1", status: "pending")
            let logger = self.logger
            let errors = try await TestEnvironment.withClient(url) { client in
                let store = RevocationStore(client: client, logger: logger)
                var errors: [RevocationStoreError] = []
                for target in [pending, UUID()] {
                    do {
                        _ = try await store.revoke(RevocationRequest(certificateID: target, reasonCode: 1, invalidityDate: nil, actor: "x", service: "admin"))
                    } catch let error as RevocationStoreError {
                        errors.append(error)
                    }
                }
                return errors
            }
            #expect(errors == [.notRevocable("certificate is pending, not issued"), .notFound])
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificate_revocations", url) == 0)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM audit_events", url) == 0)
        }
    }
}
