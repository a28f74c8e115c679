import CertctlConfig
import Logging
import Testing

@Suite("Configuration loader")
struct ConfigTests {
    let base = [
        "CERTCTL_DATABASE_URL": "postgres://certctl@127.0.0.1:5432/certctl?sslmode=disable",
        "CERTCTL_RPC_TLS_CERT": "/etc/certctl/rpc/service.crt", "CERTCTL_RPC_TLS_KEY": "/etc/certctl/rpc/service.key",
        "CERTCTL_RPC_TLS_CA": "/etc/certctl/rpc/ca.crt",
    ]

    func env(_ extra: [String: String]) -> Environment {
        Environment(base.merging(extra) { _, new in new })
    }

    @Test("defaults apply when variables are unset")
    func defaults() throws {
        let crl = try CRLConfig(env([:]))
        #expect(crl.generationInterval == .seconds(3600))
        #expect(crl.httpListen == ListenAddress(host: "127.0.0.1", port: 8082))
        #expect(crl.common.logLevel == .info)
        let ocsp = try OCSPConfig(env([:]))
        #expect(ocsp.rateLimitPerIPMinute == 1000)
        #expect(ocsp.responderKeyDirectory == "/etc/certctl/ocsp-responder-keys")
        #expect(ocsp.fullSweepInterval == .seconds(6 * 3600))
        let admin = try AdminConfig(env([:]))
        #expect(admin.certExportRateLimitPerActorHour == 50)
        #expect(admin.bootstrapAPIKey == nil)
        #expect(admin.autoMigrate)
    }

    @Test("a missing database URL names the variable")
    func missingDatabase() {
        #expect(throws: ConfigError(variable: "CERTCTL_DATABASE_URL", value: nil, expected: Catalog.databaseURL.expected)) {
            try CRLConfig(Environment([:]))
        }
    }

    @Test("the signer and admin refuse to start without an RPC identity")
    func rpcIdentityRequired() {
        var values = base
        values["CERTCTL_RPC_TLS_KEY"] = nil
        #expect(throws: ConfigError(variable: "CERTCTL_RPC_TLS_KEY", value: nil, expected: Catalog.rpcTLSKey.expected)) {
            try SignerConfig(Environment(values))
        }
        #expect(throws: ConfigError.self) { try AdminConfig(Environment(values)) }
    }

    @Test("DATABASE_URL is accepted when CERTCTL_DATABASE_URL is unset")
    func databaseURLFallback() throws {
        let common = try CommonConfig(Environment(["DATABASE_URL": "postgres://u:p@db.internal:6543/pki"]))
        #expect(common.database.host == "db.internal")
        #expect(common.database.port == 6543)
        #expect(common.database.password == "p")
        #expect(common.database.database == "pki")
    }

    @Test("a malformed value names the variable, the value and what is expected",
          arguments: [
            ("CERTCTL_CRL_GENERATION_INTERVAL", "5 minutes"),
            ("CERTCTL_CRL_GENERATION_INTERVAL", "1s"),
            ("CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN", "-1"),
            ("CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN", "lots"),
            ("CERTCTL_LOG_LEVEL", "verbose"),
            ("CERTCTL_DATABASE_URL", "mysql://x@y/z"),
            ("CERTCTL_ADMIN_LISTEN", "8080"),
            ("CERTCTL_SIGNER_HEALTH_LISTEN", "0.0.0.0:9100"),
            ("CERTCTL_API_KEY", "short"),
            ("CERTCTL_CONFIG_ENCRYPTION_KEY", "abcd"),
            ("CERTCTL_AUTO_MIGRATE", "maybe"),
            ("CERTCTL_OCSP_BASE_URL", "ftp://ocsp.example.com"),
            ("CERTCTL_CRL_BASE_URL", "http://crl.example.com/"),
            ("CERTCTL_SIGNER_ADDR", "signer"),
            ("CERTCTL_PENDING_ISSUANCE_TIMEOUT", "1s"),
            ("CERTCTL_OCSP_FULL_SWEEP_INTERVAL", "30s"),
            ("CERTCTL_OCSP_FULL_SWEEP_INTERVAL", "daily"),
          ])
    func malformed(variable: String, value: String) {
        let error = firstError(loadingEveryServiceFrom: env([variable: value]))
        #expect(error?.variable == variable)
        #expect(error?.value == value)
        #expect(error?.description.contains(variable) == true)
        #expect(error?.description.contains("expected") == true)
    }

    func firstError(loadingEveryServiceFrom environment: Environment) -> ConfigError? {
        do {
            _ = try SignerConfig(environment)
            _ = try AdminConfig(environment)
            _ = try OCSPConfig(environment)
            _ = try CRLConfig(environment)
            _ = try EnrollConfig(environment)
            return nil
        } catch {
            return error
        }
    }

    @Test("Go-style durations parse and print")
    func durations() {
        #expect(GoDuration.parse("90s") == .seconds(90))
        #expect(GoDuration.parse("15m") == .seconds(900))
        #expect(GoDuration.parse("1h") == .seconds(3600))
        #expect(GoDuration.parse("1h30m") == .seconds(5400))
        #expect(GoDuration.parse("1.5h") == .seconds(5400))
        #expect(GoDuration.parse("250ms") == .milliseconds(250))
        #expect(GoDuration.parse("0") == .zero)
        for bad in ["", "1", "h", "1x", "-1h", "1h 30m", "1hh"] {
            #expect(GoDuration.parse(bad) == nil, "\(bad) must not parse")
        }
        #expect(GoDuration.format(.seconds(3600)) == "1h")
        #expect(GoDuration.format(.seconds(90)) == "90s")
        #expect(GoDuration.format(.milliseconds(250)) == "250ms")
    }

    @Test("listen addresses")
    func listenAddresses() {
        #expect(ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(ListenAddress(parsing: ":8080") == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(ListenAddress(parsing: "[::1]:9100") == ListenAddress(host: "::1", port: 9100))
        #expect(ListenAddress(parsing: "[::1]:9100")?.isLoopback == true)
        #expect(ListenAddress(parsing: "10.0.0.1:9100")?.isLoopback == false)
        #expect(ListenAddress(parsing: "host:99999") == nil)
        #expect(ListenAddress(parsing: "::1:80") == nil)
    }

    @Test("database URLs")
    func databaseURLs() {
        let url = DatabaseURL(parsing: "postgresql://certctl:s3cret@db:5433/certctl?sslmode=require")
        #expect(url?.tlsMode == .require)
        #expect(url?.redacted == "postgres://certctl:***@db:5433/certctl")
        #expect(DatabaseURL(parsing: "postgres://certctl@127.0.0.1/certctl")?.port == 5432)
        #expect(DatabaseURL(parsing: "postgres://certctl@/certctl?host=/run/postgresql")?.socketDirectory == "/run/postgresql")
        #expect(DatabaseURL(parsing: "postgres://certctl@db/certctl?sslmode=bogus") == nil)
        #expect(DatabaseURL(parsing: "postgres://db/certctl") == nil, "user is required")
        #expect(DatabaseURL(parsing: "postgres://u@db/") == nil, "database is required")
    }

    @Test("the encryption key accepts 32 bytes as hex or base64 only")
    func encryptionKey() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try AdminConfig(env(["CERTCTL_CONFIG_ENCRYPTION_KEY": hex])).configEncryptionKey == [UInt8](repeating: 0xab, count: 32))
        let base64 = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
        #expect(try AdminConfig(env(["CERTCTL_CONFIG_ENCRYPTION_KEY": base64])).configEncryptionKey?.count == 32)
        #expect(throws: ConfigError.self) { try AdminConfig(env(["CERTCTL_CONFIG_ENCRYPTION_KEY": String(hex.dropLast(2))])) }
    }

    @Test("every catalog variable has a unique CERTCTL_ name and a parsable default")
    func catalog() {
        let names = Catalog.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("CERTCTL_") })
        #expect(Catalog.all.allSatisfy { !$0.services.isEmpty && !$0.meaning.isEmpty })
        // Defaults are parsed when read: loading every config with no overrides exercises them all.
        #expect(throws: Never.self) {
            _ = try SignerConfig(env([:])); _ = try AdminConfig(env([:])); _ = try OCSPConfig(env([:]))
            _ = try CRLConfig(env([:])); _ = try EnrollConfig(env([:]))
        }
    }
}
