import CertctlConfig
import CertctlEnrollCore
import CertctlIssuance
import CertctlPKI
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import Logging
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// What the in-process SCEP and EST tests run against: a fresh migrated
/// database, a real certctl-signer (it registers issuer iss-local and signs),
/// and the enrollment services' dependencies built as certctl-enroll builds them.
struct SCEPESTHarness {
    let url: DatabaseURL
    let client: DatabaseClient
    let ca: TestCA
    let caCertificate: Certificate
    let issuance: IssuanceService
    let refusalAudit: RefusalAggregator
    let logger = TestEnvironment.logger

    var audit: AuditLog { AuditLog(client: client, logger: logger) }
    /// Refusals are audited in aggregate when a window ends: `refusals(_:)` flushes before it counts.
    var metrics: EnrollMetrics { EnrollMetrics(refusals: refusalAudit) }
    var approvals: EnrollmentRequestStore { EnrollmentRequestStore(client: client, logger: logger) }

    static func run(_ body: (SCEPESTHarness) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await RunningSigner.run(url, callers: ["enroll"]) { signer in
                let database = Database(url: url, maximumConnections: 4, logger: TestEnvironment.logger)
                try await signer.withConnection("enroll") { connection in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { await database.run() }
                        defer { group.cancelAll() }
                        let harness = SCEPESTHarness(
                            url: url, client: database.client, ca: signer.ca, caCertificate: signer.issuer,
                            issuance: IssuanceService(database: database, signer: connection.signing,
                                                      urls: PublicationURLs(ocspBase: "http://ocsp.test", crlBase: "http://crl.test"),
                                                      logger: TestEnvironment.logger),
                            refusalAudit: RefusalAggregator(service: "enroll", metric: "certctl_enroll_refusals_total",
                                                            audit: AuditLog(client: database.client, logger: TestEnvironment.logger),
                                                            logger: TestEnvironment.logger))
                        try await body(harness)
                    }
                }
            }
        }
    }

    /// A digest of every row of every table except audit_events: equal digests = nothing changed.
    func contents() async throws -> [String: String] {
        var result: [String: String] = [:]
        for table in try await TestEnvironment.tables(url).sorted() where table != "audit_events" {
            result[table] = try await TestEnvironment.withConnection(url) { connection in
                let rows = try await connection.query(PostgresQuery(unsafeSQL:
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \(table) t"), logger: logger)
                for try await digest in rows.decode(String.self) { return digest }
                return ""
            }
        }
        return result
    }

    /// Refusals audited with this error code (that is their only write): the aggregator's pending window is
    /// flushed first; a denied row counts as many refusals as its `count` says.
    func refusals(_ code: String) async throws -> Int {
        await refusalAudit.flush()
        return try await TestEnvironment.scalar("""
            SELECT coalesce(sum(CASE WHEN outcome = 'denied' THEN coalesce((details->>'count')::int, 1) ELSE 1 END), 0)::int
            FROM audit_events WHERE error_code = '\(code)'
            """, url) ?? -1
    }

    func count(_ sql: String) async throws -> Int {
        try await TestEnvironment.scalar(sql, url) ?? -1
    }

    /// Runs `attempt` and checks that it changed no row outside audit_events and audited `code` once.
    func expectRefusedWithoutChange(_ code: String, sourceLocation: SourceLocation = #_sourceLocation,
                                    _ attempt: () async throws -> Void) async throws {
        let before = try await contents(), audited = try await refusals(code)
        try await attempt()
        #expect(try await contents() == before, "a refused request changed the database", sourceLocation: sourceLocation)
        #expect(try await refusals(code) == audited + 1, "refusal \(code) audited once", sourceLocation: sourceLocation)
    }
}

extension SCEPESTHarness {
    /// The single text result of `sql` (nil for no row or NULL).
    func text(_ sql: String) async throws -> String? {
        try await TestEnvironment.withConnection(url) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            for try await value in rows.decode(String?.self) { return value }
            return nil
        }
    }

    /// A certificate the test CA's key signs directly, past certctl's signer: one certctl has no record of,
    /// or (with `recordedAs`) an expired one recorded as issued through that endpoint, as the signer records it.
    func forge(subject: DistinguishedName, sans: [GeneralName], publicKey: Certificate.PublicKey, notBefore: Date, notAfter: Date,
               recordedAs endpoint: String? = nil) async throws -> Certificate {
        let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: ca.keyPath, encoding: .utf8))
        let serial = SerialNumber.random()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: publicKey, notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { SubjectAlternativeNames(sans) }, issuerPrivateKey: .init(key))
        guard let endpoint else { return certificate }
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = ByteBuffer(bytes: serializer.serializedBytes), serialHex = try #require(SerialNumber.canonicalHex(ofDERInteger: serial))
        let names = sans.map(GeneralNameText.describe), text = subject.description
        try await TestEnvironment.withConnection(url) { connection in
            try await connection.query("""
                INSERT INTO certificates (issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_alt_names,
                                          not_before, not_after, certificate_der, requested_by, request_source, enrollment_endpoint)
                SELECT issuer_id, generation, \(serialHex), 'issued', 'default', \(text), \(names), \(notBefore), \(notAfter), \(der),
                       'tests', \(String(endpoint.prefix { $0 != ":" })), \(endpoint)
                FROM issuer_generations WHERE issuer_id = 'iss-local' AND status = 'active'
                """, logger: logger)
        }
        return certificate
    }

    /// The certificate row of `certificate` (issuer iss-local).
    func record(of certificate: Certificate) async throws -> CertificateRecord {
        let serial = try #require(SerialNumber.canonicalHex(ofDERInteger: Array(certificate.serialNumber.bytes)))
        return try #require(try await CertificateRecordStore(client: client, logger: logger).get(issuerID: "iss-local", serialHex: serial))
    }

    /// Revokes `certificate` as the admin API does (keyCompromise).
    func revoke(_ certificate: Certificate) async throws {
        let record = try await record(of: certificate)
        #expect(try await RevocationStore(client: client, logger: logger).revoke(RevocationRequest(
            certificateID: record.id, reasonCode: 1, invalidityDate: nil, actor: "tests", service: "tests")))
    }

    /// Issues through the admin API's path (no enrollment endpoint) for `csrDER`.
    func issueAsAdmin(_ csrDER: [UInt8]) async throws -> Certificate {
        let result = try await issuance.issue(IssuanceRequest(
            csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: csrDER).pemString, issuerID: "iss-local", profileID: "default",
            validityDays: nil, requestedBy: "tests", source: "api", idempotencyKey: nil))
        return try Certificate(derEncoded: try #require(result.certificate.certificateDER))
    }

    /// `renewed` renews `old`: it is recorded as issued through `endpoint`, and the success audit row of
    /// `action` that issued it names `old`'s serial and id.
    func expectRenewal(_ renewed: Certificate, of old: Certificate, through endpoint: String, action: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let issued = try await record(of: renewed), previous = try await record(of: old)
        #expect(issued.enrollmentEndpoint == endpoint, sourceLocation: sourceLocation)
        let audited = try await text("""
            SELECT (details->>'renewed_serial') || ' ' || (details->>'renewed_certificate_id') FROM audit_events
            WHERE action = '\(action)' AND outcome = 'success' AND details->>'serial' = '\(issued.serialHex)'
            """)
        #expect(audited == "\(previous.serialHex) \(previous.id.uuidString.lowercased())", sourceLocation: sourceLocation)
    }
}
