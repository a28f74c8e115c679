import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

@Suite("Migrations against a real Postgres")
struct MigrationTests {
    let logger = TestEnvironment.logger

    @Test("the shipped migrations create every runbook table and record themselves")
    func createsSchema() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let migrator = Migrator(migrations: try Migration.bundled())
            let applied = try await migrator.migrate(url, appliedBy: "tests", logger: logger)
            #expect(applied.map(\.version) == migrator.migrations.map(\.version))
            let tables = try await TestEnvironment.tables(url)
            for table in ["issuers", "issuer_generations", "certificates", "certificate_revocations",
                          "crl_cache", "crl_generation_events", "ocsp_responder_certs", "ocsp_response_cache",
                          "profiles", "api_keys", "audit_events", "trust_anchors", "schema_migrations"] {
                #expect(tables.contains(table), "missing table \(table)")
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM schema_migrations", url) == migrator.migrations.count)
        }
    }

    @Test("migrating again changes nothing")
    func idempotent() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let migrator = Migrator(migrations: try Migration.bundled())
            let again = try await migrator.migrate(url, appliedBy: "tests", logger: logger)
            #expect(again.isEmpty)
            let status = try await TestEnvironment.withClient(url) { try await migrator.status($0, logger: logger) }
            #expect(status == .current)
        }
    }

    @Test("several processes migrating at once apply each migration exactly once")
    func concurrent() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let migrator = Migrator(migrations: try Migration.bundled())
            let logger = self.logger
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<4 {
                    group.addTask {
                        try await migrator.migrate(url, appliedBy: "racer-\(index)", logger: logger).count
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(counts.reduce(0, +) == migrator.migrations.count, "each migration applied by exactly one racer")
            #expect(counts.filter { $0 > 0 }.count == 1)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM schema_migrations", url) == migrator.migrations.count)
        }
    }

    @Test("a failing migration is rolled back, not recorded, and reports the SQL error")
    func failingMigrationRollsBack() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let migrator = Migrator(migrations: [
                Migration(version: 1, name: "good", sql: "CREATE TABLE first_table (id int);"),
                Migration(version: 2, name: "bad", sql: """
                    CREATE TABLE half_done (id int);
                    INSERT INTO half_done VALUES (1);
                    SELECT 1 / 0;
                    """),
            ])
            let error = await #expect(throws: MigrationError.self) {
                try await migrator.migrate(url, appliedBy: "tests", logger: logger)
            }
            guard case .failed(2, "bad", let message) = error else {
                Issue.record("expected migration 2 to fail, got \(String(describing: error))")
                return
            }
            #expect(message.contains("division by zero") && message.contains("22012"))
            let tables = try await TestEnvironment.tables(url)
            #expect(tables.contains("first_table"))
            #expect(!tables.contains("half_done"), "the failed migration's statements must be rolled back")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM schema_migrations", url) == 1)
            // the lock was released: another migrator can take it at once
            let lockFree = try await TestEnvironment.withConnection(url) { connection in
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Migrator.lockKey))", logger: logger)
                for try await value in rows.decode(Bool.self) { return value }
                return false
            }
            #expect(lockFree)
        }
    }

    @Test("an applied migration whose file changed is refused by name")
    func checksumMismatch() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", url)
            let migrator = Migrator(migrations: try Migration.bundled())
            await #expect(throws: MigrationError.checksumMismatch(version: 1, name: "initial")) {
                try await migrator.migrate(url, appliedBy: "tests", logger: logger)
            }
        }
    }

    @Test("a database with migrations this build does not know is refused")
    func databaseAhead() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute("""
                INSERT INTO schema_migrations (version, name, checksum, applied_by, duration_ms)
                VALUES (9999, 'from_the_future', 'x', 'tests', 0)
                """, url)
            await #expect(throws: MigrationError.databaseAhead(versions: [9999])) {
                try await Migrator(migrations: try Migration.bundled()).migrate(url, appliedBy: "tests", logger: logger)
            }
        }
    }

    @Test("0010 records which SCEP endpoint or EST label issued the certificates before it (from requested_by), none for the admin API; a malformed accept_renewals_from is refused")
    func enrollmentEndpointBackfill() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let all = try Migration.bundled()
            try await Migrator(migrations: all.filter { $0.version < 10 }).migrate(url, appliedBy: "tests", logger: logger)
            var statements = ["INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local')"]
            for (serial, requestedBy, source) in [("a1", "scep:devices", "scep"), ("a2", "est:routers:router-17", "est"),
                                                  ("a3", "est:routers:mtls:CN=a", "est"), ("a4", "apikey:ops", "api"),
                                                  ("a5", "scep:Not A Name", "scep"), ("a6", "certctl-ocsp", "ocsp-responder")] {
                statements.append("""
                    INSERT INTO certificates (issuer_id, serial_hex, status, requested_by, request_source)
                    VALUES ('iss-local', '\(serial)', 'pending', '\(requestedBy)', '\(source)')
                    """)
            }
            try await TestEnvironment.execute(statements, url)
            try await Migrator(migrations: all).migrate(url, appliedBy: "tests", logger: logger)
            let recorded = try await TestEnvironment.withConnection(url) { connection in
                let rows = try await connection.query(
                    "SELECT serial_hex, coalesce(enrollment_endpoint, '-') FROM certificates", logger: logger)
                var result: [String: String] = [:]
                for try await (serial, endpoint) in rows.decode((String, String).self) { result[serial] = endpoint }
                return result
            }
            #expect(recorded == ["a1": "scep:devices", "a2": "est:routers", "a3": "est:routers", "a4": "-", "a5": "-", "a6": "-"])
            try await TestEnvironment.execute("""
                INSERT INTO est_labels (name, issuer_id, profile_id, accept_renewals_from) VALUES ('l', 'iss-local', 'default', '{scep:a,est:b}')
                """, url)
            for list in ["{scep:Devices}", "{devices}", "{scep:a,scep:a}", "{NULL}"] {
                await #expect(throws: PSQLError.self, "accept_renewals_from \(list)") {
                    try await TestEnvironment.execute("UPDATE est_labels SET accept_renewals_from = '\(list)'", url)
                }
            }
        }
    }
}
