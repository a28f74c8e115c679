import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// Each service's database role, played by an attacker who read that
/// service's database URL: every write beyond the service's job is a
/// Postgres permission error (SQLSTATE 42501), and nothing changes.
@Suite("Database roles per service")
struct DatabaseRolesTests {
    static let services: [ServiceName] = [.signer, .admin, .ocsp, .crl, .enroll]

    /// The SQLSTATE `sql` fails with as `service`'s role, or nil when it succeeds.
    static func sqlState(_ sql: String, as service: ServiceName, _ url: DatabaseURL) async throws -> String? {
        try await TestEnvironment.sqlState(sql, TestEnvironment.url(url, as: service))
    }

    /// A migrated database with an issuer, a profile, an issued and a pending certificate (reserved by certctl_admin).
    static func withSeededDatabase(_ body: (DatabaseURL) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await TestEnvironment.execute([
                "INSERT INTO issuers (id, display_name) VALUES ('iss-local', 'Local')",
                """
                INSERT INTO issuer_generations (issuer_id, generation, certificate_der, subject_der, subject_key_id, name_hash_sha1,
                    key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, not_before, not_after)
                VALUES ('iss-local', 1, '\\x00', '\\x00', '\\x00', '\\x00', '\\x00', '\\x00', '\\x00', 'ecdsa-p256', now(), now() + interval '1 year')
                """,
            ], url)
            let admin = TestEnvironment.url(url, as: .admin)
            try await TestEnvironment.execute([
                """
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, requested_by)
                VALUES ('iss-local', 1, 'aaaa0001', 'pending', 'default', 'tests')
                """,
                """
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, requested_by)
                VALUES ('iss-local', 1, 'aaaa0002', 'pending', 'default', 'tests')
                """,
            ], admin)
            try await TestEnvironment.execute([
                "UPDATE certificates SET status = 'issued', certificate_der = '\\x30' WHERE serial_hex = 'aaaa0002'",
            ], TestEnvironment.url(url, as: .signer))
            try await body(url)
        }
    }

    @Test("the issue's attacks, as every service role: allow_sub_ca, a CA profile, a generation's key path, the audit trigger; admin alone may edit policy")
    func policyTables() async throws {
        try await Self.withSeededDatabase { url async throws in
            for service in Self.services {
                let subCA = try await Self.sqlState("UPDATE issuers SET allow_sub_ca = true", as: service, url)
                #expect(subCA == (service == .admin ? nil : "42501"), "\(service): allow_sub_ca")
                let profile = try await Self.sqlState("""
                    INSERT INTO profiles (id, allowed_key_algorithms, max_validity_days, allow_ca)
                    VALUES ('evil-\(service.rawValue)', '{ecdsa-p256}', 3650, true)
                    """, as: service, url)
                #expect(profile == (service == .admin ? nil : "42501"), "\(service): CA profile")
                #expect(try await Self.sqlState("UPDATE issuer_generations SET key_path = '/tmp/evil.key'", as: service, url) == "42501",
                        "\(service): key_path")
                #expect(try await Self.sqlState("ALTER TABLE audit_events DISABLE TRIGGER ALL", as: service, url) == "42501",
                        "\(service): audit trigger")
                #expect(try await Self.sqlState("UPDATE audit_events SET actor = 'nobody'", as: service, url) == "42501", "\(service)")
                #expect(try await Self.sqlState("DELETE FROM audit_events", as: service, url) == "42501", "\(service)")
                #expect(try await Self.sqlState("INSERT INTO api_keys (actor, role, key_hash, key_prefix) VALUES ('x', 'admin', '\\x\(String(repeating: "00", count: 32))', 'x')",
                                                as: service, url) == (service == .admin ? nil : "42501"), "\(service): api key")
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM issuer_generations WHERE key_path IS NOT NULL", url) == 0)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM profiles WHERE allow_ca", url) == 1, "admin's only")
        }
    }

    @Test("certificates: only admin and enroll reserve (pending only), only the signer completes, only admin revokes; enroll fails only its own reservations")
    func certificateTransitions() async throws {
        try await Self.withSeededDatabase { url async throws in
            let insertIssued = """
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, requested_by, certificate_der)
                VALUES ('iss-local', 1, 'bbbb0001', 'issued', 'evil', '\\x30')
                """
            for service in Self.services {
                #expect(try await Self.sqlState(insertIssued, as: service, url) == "42501", "\(service) inserts an issued certificate")
            }
            // as the issuance core reserves: with the enrollment endpoint (migration 0010) that issues it
            func reserve(_ serial: String) -> String {
                """
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, requested_by, enrollment_endpoint)
                VALUES ('iss-local', 1, '\(serial)', 'pending', 'default', 'device', 'scep:devices')
                """
            }
            #expect(try await Self.sqlState(reserve("cccc0001"), as: .enroll, url) == nil)
            #expect(try await Self.sqlState(reserve("cccc0005"), as: .admin, url) == nil, "admin reserves when it approves a held request")
            #expect(try await Self.sqlState(reserve("cccc0002"), as: .ocsp, url) == "42501")
            #expect(try await Self.sqlState(reserve("cccc0003"), as: .crl, url) == "42501")
            // reserved_by is the inserting role, whatever the statement says
            #expect(try await Self.sqlState("""
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, requested_by, reserved_by)
                VALUES ('iss-local', 1, 'cccc0004', 'pending', 'default', 'device', 'certctl_admin')
                """, as: .enroll, url) == "42501", "no column privilege on reserved_by")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE reserved_by = 'certctl_enroll'", url) == 1)

            let pendingByAdmin = "serial_hex = 'aaaa0001'"
            let issued = "serial_hex = 'aaaa0002'"
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'failed' WHERE \(pendingByAdmin)", as: .enroll, url) == "42501",
                    "enroll fails another service's reservation")
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'failed' WHERE serial_hex = 'cccc0001'", as: .enroll, url) == nil)
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'issued', certificate_der = '\\x30' WHERE \(pendingByAdmin)",
                                            as: .enroll, url) == "42501")
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'issued' WHERE \(pendingByAdmin)", as: .admin, url) == "42501")
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'revoked' WHERE \(issued)", as: .signer, url) == "42501")
            #expect(try await Self.sqlState("UPDATE certificates SET subject = 'CN=evil' WHERE \(issued)", as: .admin, url) == "42501")
            #expect(try await Self.sqlState("UPDATE certificates SET certificate_der = '\\x31' WHERE \(issued)", as: .signer, url) == "42501",
                    "the signer rewrites an issued certificate")
            for service in [ServiceName.signer, .ocsp, .crl, .enroll] {
                #expect(try await Self.sqlState("""
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                    SELECT id, 'iss-local', 'aaaa0002', 1, now(), 'evil' FROM certificates WHERE serial_hex = 'aaaa0002'

                    """, as: service, url) == "42501", "\(service) revokes")
                #expect(try await Self.sqlState("DELETE FROM certificate_revocations", as: service, url) == "42501")
            }
            #expect(try await Self.sqlState("UPDATE certificates SET status = 'revoked' WHERE \(issued)", as: .admin, url) == nil)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'issued'", url) == 0)
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'revoked'", url) == 1)
        }
    }

    @Test("each service writes its own tables only: ocsp its caches, crl its cache and events, the signer the CRL number")
    func ownTables() async throws {
        try await Self.withSeededDatabase { url async throws in
            #expect(try await Self.sqlState("DELETE FROM ocsp_response_cache", as: .ocsp, url) == nil)
            #expect(try await Self.sqlState("DELETE FROM crl_cache", as: .ocsp, url) == "42501")
            #expect(try await Self.sqlState("DELETE FROM ocsp_response_cache", as: .crl, url) == "42501")
            #expect(try await Self.sqlState("UPDATE issuer_generations SET last_crl_number = 10 ^ 47", as: .crl, url) == "42501",
                    "the crl role cannot push the CRL number")
            #expect(try await Self.sqlState("UPDATE issuer_generations SET last_crl_number = last_crl_number + 1", as: .signer, url) == nil)
            #expect(try await Self.sqlState("SELECT count(*) FROM audit_events", as: .enroll, url) == "42501", "only admin reads the trail")
            #expect(try await Self.sqlState("SELECT count(*) FROM api_keys", as: .ocsp, url) == "42501")
            #expect(try await Self.sqlState("SELECT count(*) FROM est_users", as: .ocsp, url) == "42501")
            #expect(try await Self.sqlState("INSERT INTO audit_events (service, actor, action, outcome) VALUES ('crl', 'x', 'y', 'success')",
                                            as: .crl, url) == nil)
        }
    }
}
