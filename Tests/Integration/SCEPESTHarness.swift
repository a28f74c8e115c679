import CertctlConfig
import CertctlEnrollCore
import CertctlIssuance
import CertctlRPC
import CertctlStore
import Foundation
import Logging
import PostgresNIO
import Testing
import X509

/// What the in-process SCEP and EST tests run against: a fresh migrated
/// database, a real certctl-signer (it registers issuer iss-local and signs),
/// and the enrollment services' dependencies built as certctl-enroll builds them.
struct SCEPESTHarness {
    let url: DatabaseURL
    let client: PostgresClient
    let ca: TestCA
    let caCertificate: Certificate
    let issuance: IssuanceService
    let logger = TestEnvironment.logger

    var audit: AuditLog { AuditLog(client: client, logger: logger) }
    var approvals: EnrollmentRequestStore { EnrollmentRequestStore(client: client, logger: logger) }

    static func run(_ body: (SCEPESTHarness) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["signer", "enroll"])
            let rpcPort = freePort(), healthPort = freePort()
            var environment = [
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url), "CERTCTL_LOG_FORMAT": "text",
                "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(healthPort)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(rpcPort)",
                "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
            ]
            environment.merge(identities.environment(for: "signer")) { a, _ in a }
            let signer = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment)
            defer { signer.signal(SIGKILL) }
            try await signer.eventually("/readyz 200", timeout: .seconds(40)) {
                try await HTTP.get("http://127.0.0.1:\(healthPort)/readyz").status == 200
            }
            let connection = try SignerConnection(
                address: ListenAddress(host: "127.0.0.1", port: rpcPort),
                tls: RPCTLSFiles(certificatePath: "\(identities.directory)/enroll.crt", keyPath: "\(identities.directory)/enroll.key",
                                 caPath: "\(identities.directory)/ca.crt"))
            let database = Database(url: url, maximumConnections: 4, logger: TestEnvironment.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await connection.run() }
                defer {
                    connection.close()
                    group.cancelAll()
                }
                let harness = SCEPESTHarness(
                    url: url, client: database.client, ca: ca,
                    caCertificate: try Certificate(pemEncoded: String(contentsOfFile: ca.certPath, encoding: .utf8)),
                    issuance: IssuanceService(database: database, signer: connection.signing,
                                              urls: PublicationURLs(ocspBase: "http://ocsp.test", crlBase: "http://crl.test"),
                                              logger: TestEnvironment.logger))
                try await body(harness)
            }
            #expect(await signer.stop() == 0)
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

    /// Audit rows with this error code (refusals are audited; that is their only write).
    func refusals(_ code: String) async throws -> Int {
        try await TestEnvironment.scalar("SELECT count(*)::int FROM audit_events WHERE error_code = '\(code)'", url) ?? -1
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
