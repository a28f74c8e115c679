import CertctlConfig
import CertctlStore
import Foundation
import PostgresNIO
import Testing

/// The five executables as real processes against a real Postgres.
@Suite("Service processes", .timeLimit(.minutes(2)))
struct ServiceProcessTests {
    let logger = TestEnvironment.logger

    static let listenVariable: [String: String] = [
        "certctl-signer": "CERTCTL_SIGNER_HEALTH_LISTEN", "certctl-admin": "CERTCTL_ADMIN_LISTEN",
        "certctl-ocsp": "CERTCTL_OCSP_LISTEN", "certctl-crl": "CERTCTL_CRL_LISTEN", "certctl-enroll": "CERTCTL_ENROLL_LISTEN",
    ]

    @Test("a malformed variable stops the process before it serves, with exit 78 and one line naming it",
          arguments: [
            ("certctl-ocsp", "CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN", "lots"),
            ("certctl-crl", "CERTCTL_CRL_GENERATION_INTERVAL", "5 minutes"),
            ("certctl-crl", "CERTCTL_CRL_VALIDITY", "30m"),  // not longer than the 1h interval
            ("certctl-admin", "CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR", "-3"),
            ("certctl-signer", "CERTCTL_SIGNER_HEALTH_LISTEN", "0.0.0.0:9100"),
            ("certctl-enroll", "CERTCTL_LOG_LEVEL", "chatty"),
            ("certctl-enroll", "CERTCTL_DATABASE_URL", "mysql://root@db/certctl"),
          ])
    func badVariable(executable: String, variable: String, value: String) async throws {
        let port = freePort()
        var environment = [
            "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:1/certctl",
            Self.listenVariable[executable]!: "127.0.0.1:\(port)",
        ].merging(Self.placeholderRPCIdentity) { a, _ in a }
        environment[variable] = value
        let child = try ChildProcess(try TestEnvironment.binary(executable), environment: environment)
        #expect(await child.waitForExit(timeout: .seconds(10)) == 78)
        let lines = child.stderr.split(separator: "\n")
        #expect(lines.count == 1, "exactly one line, got: \(child.stderr)")
        #expect(child.stderr.contains(variable))
        #expect(child.stderr.contains("\"\(value)\""))
        #expect(child.stderr.contains("expected"))
        #expect(try await HTTP.get("http://127.0.0.1:\(port)/healthz").status == 0, "nothing may listen")
    }

    /// Parsable RPC settings for tests that stop before any file is read.
    static let placeholderRPCIdentity = [
        "CERTCTL_RPC_TLS_CERT": "/nonexistent/rpc.crt", "CERTCTL_RPC_TLS_KEY": "/nonexistent/rpc.key",
        "CERTCTL_RPC_TLS_CA": "/nonexistent/ca.crt",
    ]

    @Test("only certctl-signer links the CA key-loading code")
    func keyLoadingOnlyInSigner() throws {
        // Swift symbol names embed the type name: the loader's appear in the signer binary only.
        let marker = Array("CAKeyLoader".utf8)
        func contains(_ binary: String) throws -> Bool {
            let data = try Data(contentsOf: URL(fileURLWithPath: binary), options: .alwaysMapped)
            return data.range(of: Data(marker)) != nil
        }
        #expect(try contains(TestEnvironment.binary("certctl-signer")), "the marker must be findable at all")
        for other in ["certctl-admin", "certctl-ocsp", "certctl-crl", "certctl-enroll"] {
            #expect(try !contains(TestEnvironment.binary(other)), "\(other) must not contain the CA key loader")
        }
    }

    @Test("a missing database URL stops the process with exit 78")
    func missingDatabaseURL() async throws {
        let child = try ChildProcess(try TestEnvironment.binary("certctl-crl"), environment: [:])
        #expect(await child.waitForExit(timeout: .seconds(10)) == 78)
        #expect(child.stderr.contains("CERTCTL_DATABASE_URL is not set"))
    }

    @Test("the signer refuses a CA key file that group or others can read, naming the file")
    func signerRefusesOpenKey() async throws {
        let ca = try TestCA.create()
        defer { ca.remove() }
        chmod(ca.keyPath, 0o644)
        let child = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: [
            "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:1/certctl",
            "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(freePort())",
            "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
        ].merging(Self.placeholderRPCIdentity) { a, _ in a })
        #expect(await child.waitForExit(timeout: .seconds(10)) == 78)
        #expect(child.stderr.contains("CERTCTL_CA_KEY_PATH"))
        #expect(child.stderr.contains(ca.keyPath))
        #expect(child.stderr.contains("chmod 600"))
    }

    @Test("with CERTCTL_ADMIN_TLS_CERT and _KEY the admin API is HTTPS only; one without the other, or a key others can read, stops it at start (exit 78)")
    func adminTLS() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["admin"])
            let dir = ca.directory
            try TestCA.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                "-keyout", "\(dir)/admin-tls.key", "-out", "\(dir)/admin-tls.crt", "-days", "2",
                                                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            chmod("\(dir)/admin-tls.key", 0o600)
            let port = freePort()
            var environment = ["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .admin), "CERTCTL_LOG_FORMAT": "text",
                               "CERTCTL_ADMIN_LISTEN": "127.0.0.1:\(port)", "CERTCTL_SIGNER_ADDR": "127.0.0.1:\(freePort())",
                               "CERTCTL_ADMIN_TLS_CERT": "\(dir)/admin-tls.crt"]
            environment.merge(identities.environment(for: "admin")) { a, _ in a }
            let half = try ChildProcess(try TestEnvironment.binary("certctl-admin"), environment: environment)
            #expect(await half.waitForExit(timeout: .seconds(30)) == 78)
            #expect(half.stderr.contains("CERTCTL_ADMIN_TLS_KEY"))
            environment["CERTCTL_ADMIN_TLS_KEY"] = "\(dir)/admin-tls.key"
            chmod("\(dir)/admin-tls.key", 0o644)
            let readable = try ChildProcess(try TestEnvironment.binary("certctl-admin"), environment: environment)
            #expect(await readable.waitForExit(timeout: .seconds(30)) == 78)
            #expect(readable.stderr.contains("CERTCTL_ADMIN_TLS_KEY"))
            chmod("\(dir)/admin-tls.key", 0o600)
            let admin = try ChildProcess(try TestEnvironment.binary("certctl-admin"), environment: environment)
            defer { admin.signal(SIGKILL) }
            try await admin.eventually("/healthz over HTTPS") {
                try await HTTP.get("https://127.0.0.1:\(port)/healthz", options: ["--cacert", "\(dir)/admin-tls.crt"]).status == 200
            }
            #expect(try await HTTP.get("http://127.0.0.1:\(port)/healthz").status != 200, "no plain HTTP beside it")
            #expect(await admin.stop() == 0)
        }
    }

    @Test("after certctl-admin migrate (as the schema owner), all five services start as their own database roles, become ready, serve metrics and stop on SIGTERM")
    func fullStack() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let migrate = try ChildProcess(try TestEnvironment.binary("certctl-admin"), arguments: ["migrate"],
                                           environment: ["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url)])
            #expect(await migrate.waitForExit(timeout: .seconds(60)) == 0)
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["signer", "admin", "ocsp", "crl", "enroll"])
            let signerRPCPort = freePort()
            let apiKey = APIKeyStore.generate()
            let keyDirectory = ca.directory + "/ocsp-keys"
            var ports: [String: Int] = [:]
            var children: [ChildProcess] = []
            for executable in ["certctl-admin", "certctl-signer", "certctl-ocsp", "certctl-crl", "certctl-enroll"] {
                let port = freePort()
                ports[executable] = port
                var environment = [
                    "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: ServiceName(rawValue: String(executable.dropFirst("certctl-".count)))!),
                    "CERTCTL_LOG_FORMAT": "json",
                    Self.listenVariable[executable]!: "127.0.0.1:\(port)",
                ]
                let service = String(executable.dropFirst("certctl-".count))
                environment.merge(identities.environment(for: service)) { a, _ in a }
                if service != "signer" { environment["CERTCTL_SIGNER_ADDR"] = "127.0.0.1:\(signerRPCPort)" }
                switch executable {
                case "certctl-admin":
                    environment["CERTCTL_API_KEY"] = apiKey
                case "certctl-signer":
                    environment["CERTCTL_CA_CERT_PATH"] = ca.certPath
                    environment["CERTCTL_CA_KEY_PATH"] = ca.keyPath
                    environment["CERTCTL_SIGNER_RPC_LISTEN"] = "127.0.0.1:\(signerRPCPort)"
                case "certctl-ocsp": environment["CERTCTL_OCSP_RESPONDER_KEY_DIR"] = keyDirectory
                default: break
                }
                children.append(try ChildProcess(try TestEnvironment.binary(executable), environment: environment))
            }
            for child in children {
                let port = ports[child.name]!
                try await child.eventually("/readyz 200") {
                    try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 200
                }
                let health = try await HTTP.get("http://127.0.0.1:\(port)/healthz")
                #expect(health.status == 200)
                #expect(health.body.contains(#""status":"ok""#))
                let metrics = try await HTTP.get("http://127.0.0.1:\(port)/metrics")
                #expect(metrics.status == 200)
                #expect(metrics.headers.lowercased().contains("content-type: text/plain; version=0.0.4"))
                #expect(metrics.body.contains("hb_requests"), "request counter of \(child.name) moved: \(metrics.body.prefix(500))")
            }
            // the OCSP key directory was created private
            let mode = try FileManager.default.attributesOfItem(atPath: keyDirectory)[.posixPermissions] as? Int
            #expect(mode == 0o700)
            // the bootstrap key is stored hashed, once
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM api_keys WHERE role = 'admin' AND actor = 'bootstrap'", url) == 1)
            // structured logs: every stderr line of the admin is a JSON object
            let adminLog = children[0].stderr.split(separator: "\n")
            #expect(!adminLog.isEmpty)
            #expect(adminLog.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) is [String: Any] })
            for child in children {
                #expect(await child.stop() == 0, "\(child.name) exits 0 on SIGTERM; stderr: \(child.stderr.suffix(1500))")
            }
        }
    }

    @Test("an unreachable database at start: alive but not ready, retrying, ready once the database exists")
    func unreachableDatabaseAtStart() async throws {
        let server = try TestEnvironment.serverURL()
        let name = "certctl_t_late_" + UUID().uuidString.lowercased().prefix(8)
        let url = server.with(database: String(name))
        let port = freePort()
        let ca = try TestCA.create()
        defer { ca.remove() }
        let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["crl"])
        let child = try ChildProcess(try TestEnvironment.binary("certctl-crl"), environment: [
            "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url), "CERTCTL_LOG_FORMAT": "text",
            "CERTCTL_CRL_LISTEN": "127.0.0.1:\(port)",
        ].merging(identities.environment(for: "crl")) { a, _ in a })
        defer { child.signal(SIGKILL) }
        try await child.eventually("/healthz 200") { try await HTTP.get("http://127.0.0.1:\(port)/healthz").status == 200 }
        try await child.eventually("/readyz reports the database unreachable") {
            let ready = try await HTTP.get("http://127.0.0.1:\(port)/readyz")
            return ready.status == 503 && ready.body.contains("unreachable")
        }
        try await Task.sleep(for: .seconds(3))  // several retries
        #expect(try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 503)
        #expect(child.isRunning, "not a crash loop: the process stays up")
        #expect(child.stderr.contains("not ready; retrying with backoff"))
        #expect(child.stderr.components(separatedBy: "not ready; retrying").count == 2, "one log line per state change")

        try await TestEnvironment.execute("CREATE DATABASE \(name)", server)
        do {
            try await child.eventually("/readyz says migrations pending") {
                try await HTTP.get("http://127.0.0.1:\(port)/readyz").body.contains("migrations pending")
            }
            let migrate = try ChildProcess(try TestEnvironment.binary("certctl-admin"), arguments: ["migrate"],
                                           environment: ["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url)])
            #expect(await migrate.waitForExit(timeout: .seconds(30)) == 0)
            try await child.eventually("/readyz 200 after migrating") {
                try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 200
            }
            #expect(await child.stop() == 0)
        } catch {
            await child.stop()
            try? await TestEnvironment.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
            throw error
        }
        try await TestEnvironment.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", server)
    }

    @Test("certctl-admin migrate: a failing migration exits non-zero with the SQL error and changes nothing")
    func migrateFailure() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            // An object in the way of the first migration.
            try await TestEnvironment.execute("CREATE TABLE profiles (unrelated int)", url)
            let child = try ChildProcess(try TestEnvironment.binary("certctl-admin"), arguments: ["migrate"],
                                         environment: ["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url)])
            #expect(await child.waitForExit(timeout: .seconds(30)) == 1)
            #expect(child.stderr.contains("migration 1_initial failed and was rolled back"))
            #expect(child.stderr.contains("already exists"))
            #expect(child.stderr.contains("42P07"))
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM schema_migrations", url) == 0)
            let tables = try await TestEnvironment.tables(url)
            #expect(!tables.contains("issuers"), "statements before the failure are rolled back")
        }
    }

    @Test("certctl-admin migrate waits while another process holds the migration lock")
    func migrateWaitsForLock() async throws {
        try await TestEnvironment.withFreshDatabase { url in
            let holder = try await TestEnvironment.connect(url)
            try await holder.query("SELECT pg_advisory_lock(\(Migrator.lockKey))", logger: logger)
            let child = try ChildProcess(try TestEnvironment.binary("certctl-admin"), arguments: ["migrate"],
                                         environment: ["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url)])
            #expect(await child.waitForExit(timeout: .seconds(2)) == nil, "it must wait for the lock")
            #expect(try await !TestEnvironment.tables(url).contains("issuers"))
            try await holder.query("SELECT pg_advisory_unlock(\(Migrator.lockKey))", logger: logger)
            try await holder.close()
            #expect(await child.waitForExit(timeout: .seconds(30)) == 0)
            #expect(child.stdout.contains("applied 1_initial"))
            #expect(try await TestEnvironment.tables(url).contains("issuers"))
        }
    }
}

/// A throwaway CA made with the `openssl` CLI (key mode 0600).
struct TestCA {
    let directory: String
    var certPath: String { directory + "/ca.crt" }
    var keyPath: String { directory + "/ca.key" }

    static func create() throws -> TestCA {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-ca-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = TestCA(directory: directory)
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                     "-keyout", ca.keyPath, "-out", ca.certPath, "-days", "30", "-subj", "/CN=certctl test CA"])
        chmod(ca.keyPath, 0o600)
        return ca
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Service-identity CA and certificates made by scripts/make-identities (the dev tooling).
    static func identities(in directory: String, for services: [String]) throws -> ServiceIdentities {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/make-identities").path
        try run("/bin/bash", [script, directory] + services)
        return ServiceIdentities(directory: directory)
    }

    /// An identity `name` from the identity CA with subject CN certctl-admin but no URI SAN.
    @discardableResult
    static func cnOnlyIdentity(_ identities: ServiceIdentities, name: String) throws -> String {
        let dir = identities.directory
        try run("/usr/bin/openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                     "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr", "-subj", "/O=certctl/CN=certctl-admin"])
        try run("/usr/bin/openssl", ["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
                                     "-CAcreateserial", "-days", "2", "-out", "\(dir)/\(name).crt"])
        chmod("\(dir)/\(name).key", 0o600)
        return "\(dir)/\(name).crt"
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(executable) \(arguments.joined(separator: " ")) failed")
    }
}

/// The files scripts/make-identities wrote.
struct ServiceIdentities {
    let directory: String

    func environment(for service: String) -> [String: String] {
        ["CERTCTL_RPC_TLS_CERT": "\(directory)/\(service).crt", "CERTCTL_RPC_TLS_KEY": "\(directory)/\(service).key",
         "CERTCTL_RPC_TLS_CA": "\(directory)/ca.crt"]
    }
}
