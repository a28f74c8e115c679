import CertctlStore
import Foundation
import PostgresNIO
import Testing

@Suite("Schema rules enforced by the database")
struct SchemaTests {
    let logger = TestEnvironment.logger

    @Test("audit_events is append-only: UPDATE, DELETE and TRUNCATE are rejected")
    func auditAppendOnly() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("""
                INSERT INTO audit_events (service, actor, action, outcome) VALUES ('admin', 'alice', 'test.event', 'success')
                """, url)
            for statement in ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
                let error = await #expect(throws: PSQLError.self, "\(statement) must be rejected") {
                    try await TestEnvironment.execute(statement, url)
                }
                #expect(error?.serverInfo?[.sqlState] == "42501")
                #expect(error.map(DatabaseErrorText.describe)?.contains("append-only") == true)
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM audit_events WHERE actor = 'alice'", url) == 1)
        }
    }

    @Test("serials are stored only in canonical form: lowercase hex, no leading zeros, at most 20 octets")
    func canonicalSerials() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local')", url)
            try await TestEnvironment.execute(Self.insertPending("1a2b3c"), url)
            try await TestEnvironment.execute(Self.insertPending(String(repeating: "f", count: 40)), url)
            for bad in ["01a2", "1A2B", "0", "", "xyz", String(repeating: "f", count: 41)] {
                #expect(try await TestEnvironment.sqlState(Self.insertPending(bad), url) == "23514", "serial '\(bad)' must be rejected")
            }
            // unique per issuer
            #expect(try await TestEnvironment.sqlState(Self.insertPending("1a2b3c"), url) == "23505")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates", url) == 2)
        }
    }

    static func insertPending(_ serial: String) -> String {
        """
        INSERT INTO certificates (issuer_id, serial_hex, status, requested_by)
        VALUES ('iss-local', '\(serial)', 'pending', 'tests')
        """
    }

    @Test("an issued certificate must carry its DER")
    func issuedNeedsDER() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local')", url)
            #expect(try await TestEnvironment.sqlState("""
                INSERT INTO certificates (issuer_id, serial_hex, status, requested_by)
                VALUES ('iss-local', 'abc', 'issued', 'tests')
                """, url) == "23514")
        }
    }

    @Test("an API key is stored as a salted SHA-256 hash only, once, with an audit event")
    func apiKeyHashOnly() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let key = APIKeyStore.generate()
            #expect(key.hasPrefix("cctl_") && key.count == 48)
            let (first, second) = try await TestEnvironment.withClient(url) { client in
                let store = APIKeyStore(client: client, logger: logger)
                return (try await store.ensure(key: key, role: .admin, actor: "bootstrap", service: "admin"),
                        try await store.ensure(key: key, role: .admin, actor: "bootstrap", service: "admin"))
            }
            #expect(first, "the first call stores the key")
            #expect(!second, "the second call finds it")
            let hex = APIKeyStore.hash(key).map { String(format: "%02x", $0) }.joined()
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM api_keys WHERE key_hash = sha256(key_salt || convert_to('\(key)', 'UTF8')) AND role = 'admin'", url) == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM api_keys WHERE key_hash = '\\x\(hex)'::bytea", url) == 0,
                    "not the unsalted hash")
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM api_keys WHERE position('\(key)' in encode(key_hash, 'escape')) > 0", url) == 0)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE action = 'api_key.create'", url) == 1)
        }
    }

    @Test("reservations left pending past the timeout are marked failed; fresh ones are not")
    func stalePendingFail() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local')", url)
            try await TestEnvironment.execute("""
                INSERT INTO certificates (issuer_id, serial_hex, status, requested_by, created_at)
                VALUES ('iss-local', 'a1', 'pending', 'tests', now() - interval '10 minutes'),
                       ('iss-local', 'a2', 'pending', 'tests', now())
                """, url)
            let logger = self.logger
            let failed = try await TestEnvironment.withClient(url) { client in
                try await CertificateRecordStore(client: client, logger: logger).failStalePending(olderThan: .seconds(300))
            }
            #expect(failed == 1)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE serial_hex = 'a1' AND status = 'failed' AND failure_reason IS NOT NULL", url) == 1)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE serial_hex = 'a2' AND status = 'pending'", url) == 1)
        }
    }
}
