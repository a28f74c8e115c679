import Foundation
import Logging

/// Every `CERTCTL_*` variable any executable reads. `docs/features.md` must
/// list exactly these, with these defaults (checked by `scripts/check-docs`).
public enum Catalog {
    // MARK: Common to every service

    public static let databaseURL = ConfigVariable<DatabaseURL>(
        "CERTCTL_DATABASE_URL", required: true, services: ServiceName.allCases,
        expected: "a postgres:// URL such as postgres://certctl@127.0.0.1:5432/certctl?sslmode=disable",
        meaning: "Postgres connection URL (falls back to `DATABASE_URL`). `sslmode` may be disable, prefer or require (require, verify-ca and verify-full all verify the server's certificate and name); `sslrootcert=/path` names the CA to verify it with. Each service connects as its own role (docs/security.md).",
        fallbackNames: ["DATABASE_URL"],
        parse: { DatabaseURL(parsing: $0) })

    public static let databasePasswordFile = ConfigVariable<String>(
        "CERTCTL_DATABASE_PASSWORD_FILE", services: ServiceName.allCases,
        expected: "a path to a file (mode 0600) holding the database password",
        meaning: "The database password, read from a file (a container secret) instead of the URL; it replaces a password in `CERTCTL_DATABASE_URL`. Trailing newlines are ignored.",
        parse: nonEmptyPath)

    public static let databasePoolSize = ConfigVariable<Int>(
        "CERTCTL_DATABASE_POOL_SIZE", default: "10", services: ServiceName.allCases,
        expected: "an integer from 1 to 200",
        meaning: "Maximum pooled Postgres connections per process (a LISTEN subscriber holds one more).",
        parse: { Int($0).flatMap { (1...200).contains($0) ? $0 : nil } })

    public static let logLevel = ConfigVariable<Logger.Level>(
        "CERTCTL_LOG_LEVEL", default: "info", services: ServiceName.allCases,
        expected: "one of trace, debug, info, notice, warning, error, critical",
        meaning: "Minimum level of log lines written to stderr.",
        parse: { Logger.Level(rawValue: $0.lowercased()) })

    public static let logFormat = ConfigVariable<LogFormat>(
        "CERTCTL_LOG_FORMAT", default: "json", services: ServiceName.allCases,
        expected: "json or text",
        meaning: "`json`: one JSON object per line (for log shippers); `text`: human-readable lines.",
        parse: { LogFormat(rawValue: $0.lowercased()) })

    // MARK: Listen addresses

    public static let signerHealthListen = ConfigVariable<ListenAddress>(
        "CERTCTL_SIGNER_HEALTH_LISTEN", default: "127.0.0.1:9100", services: [.signer],
        expected: "a loopback host:port such as 127.0.0.1:9100 (the signer never listens publicly)",
        meaning: "Signer's /healthz, /readyz and /metrics. Loopback only: a non-loopback address is refused.",
        parse: { ListenAddress(parsing: $0).flatMap { $0.isLoopback ? $0 : nil } })

    public static let adminListen = ConfigVariable<ListenAddress>(
        "CERTCTL_ADMIN_LISTEN", default: "127.0.0.1:8080", services: [.admin],
        expected: "host:port such as 0.0.0.0:8080",
        meaning: "Admin REST API, health and metrics.",
        parse: { ListenAddress(parsing: $0) })

    public static let ocspListen = ConfigVariable<ListenAddress>(
        "CERTCTL_OCSP_LISTEN", default: "127.0.0.1:8081", services: [.ocsp],
        expected: "host:port such as 0.0.0.0:8081",
        meaning: "OCSP responder (plain HTTP), health and metrics.",
        parse: { ListenAddress(parsing: $0) })

    public static let crlListen = ConfigVariable<ListenAddress>(
        "CERTCTL_CRL_LISTEN", default: "127.0.0.1:8082", services: [.crl],
        expected: "host:port such as 0.0.0.0:8082",
        meaning: "CRL publication (plain HTTP), health and metrics.",
        parse: { ListenAddress(parsing: $0) })

    public static let enrollListen = ConfigVariable<ListenAddress>(
        "CERTCTL_ENROLL_LISTEN", default: "127.0.0.1:8083", services: [.enroll],
        expected: "host:port such as 0.0.0.0:8083",
        meaning: "SCEP (plain HTTP), health and metrics of the enrollment service.",
        parse: { ListenAddress(parsing: $0) })

    // MARK: HTTP listener limits (every listener: admin, ocsp, crl, enroll, EST, signer health)

    public static let httpIdleTimeout = ConfigVariable<Duration>(
        "CERTCTL_HTTP_IDLE_TIMEOUT", default: "60s", services: ServiceName.allCases,
        expected: "a duration between 100ms and 1h such as 60s",
        meaning: "A kept-alive connection with no request in flight and no byte of a next one is closed after this long.",
        parse: durationIn(.milliseconds(100) ... .seconds(3600)))

    public static let httpHeaderTimeout = ConfigVariable<Duration>(
        "CERTCTL_HTTP_HEADER_TIMEOUT", default: "10s", services: ServiceName.allCases,
        expected: "a duration between 100ms and 10m such as 10s",
        meaning: "A request's head must be complete this long after the connection opened (after the TLS handshake) or after the first byte of a request on a kept-alive connection; otherwise 408 and close (slowloris).",
        parse: durationIn(.milliseconds(100) ... .seconds(600)))

    public static let httpBodyTimeout = ConfigVariable<Duration>(
        "CERTCTL_HTTP_BODY_TIMEOUT", default: "30s", services: ServiceName.allCases,
        expected: "a duration between 100ms and 1h such as 30s",
        meaning: "A request's body must be complete this long after its head; otherwise 408 (if no response has started) and close.",
        parse: durationIn(.milliseconds(100) ... .seconds(3600)))

    public static let tlsHandshakeTimeout = ConfigVariable<Duration>(
        "CERTCTL_TLS_HANDSHAKE_TIMEOUT", default: "10s", services: ServiceName.allCases,
        expected: "a duration between 100ms and 10m such as 10s",
        meaning: "A TLS handshake on an HTTPS listener (admin with CERTCTL_ADMIN_TLS_CERT, EST) must finish this long after the connection opened; otherwise the connection is closed.",
        parse: durationIn(.milliseconds(100) ... .seconds(600)))

    public static let httpMaxConnections = ConfigVariable<Int>(
        "CERTCTL_HTTP_MAX_CONNECTIONS", default: "10000", services: ServiceName.allCases,
        expected: "an integer from 1 to 1000000",
        meaning: "Open connections allowed per HTTP listener; beyond it a new connection is closed at once and counted in `certctl_http_connections_refused_total`.",
        parse: { Int($0).flatMap { (1...1_000_000).contains($0) ? $0 : nil } })

    // MARK: Signer

    public static let caCertPath = ConfigVariable<String>(
        "CERTCTL_CA_CERT_PATH", default: "/etc/certctl/ca.crt", services: [.signer],
        expected: "a path to a PEM CA certificate",
        meaning: "CA certificate of the default issuer `iss-local`.",
        parse: nonEmptyPath)

    public static let caKeyPath = ConfigVariable<String>(
        "CERTCTL_CA_KEY_PATH", default: "/etc/certctl/ca.key", services: [.signer],
        expected: "a path to a PEM private key file with mode 0600",
        meaning: "CA private key of `iss-local`. Read only by certctl-signer; refused if group/others can read it.",
        parse: nonEmptyPath)

    public static let signerCRLMaxValidity = ConfigVariable<Duration>(
        "CERTCTL_SIGNER_CRL_MAX_VALIDITY", default: "168h", services: [.signer],
        expected: "a duration between 1m and 720h such as 168h (at least CERTCTL_CRL_VALIDITY)",
        meaning: "The signer refuses a CRL whose nextUpdate is more than this after its thisUpdate, so a compromised certctl-crl cannot get a long-lived CRL signed that hides later revocations.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(60) && $0 <= .seconds(720 * 3600) ? $0 : nil } })

    public static let signerKeyDir = ConfigVariable<String>(
        "CERTCTL_SIGNER_KEY_DIR", default: "/etc/certctl/generations", services: [.signer],
        expected: "a path to a directory only the signer's user can enter (mode 0700); created if missing",
        meaning: "Where certctl-signer writes the key (mode 0600), certificate and CSR of each CA key generation a rotation makes (`certctl-admin issuer rotate`). Back it up with the CA key.",
        parse: nonEmptyPath)

    public static let signerMaxClockSkew = ConfigVariable<Duration>(
        "CERTCTL_SIGNER_MAX_CLOCK_SKEW", default: "30s", services: [.signer],
        expected: "a duration between 1s and 1h such as 30s",
        meaning: "The signer refuses to sign (`clock_skew`) and is not ready while its clock and the database server's (`clock_timestamp()`, compared every 5 s) differ by more than this.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(1) && $0 <= .seconds(3600) ? $0 : nil } })

    public static let signerArchiveGrace = ConfigVariable<Duration>(
        "CERTCTL_SIGNER_ARCHIVE_GRACE", default: "168h", services: [.signer],
        expected: "a duration between 1s and 8760h such as 168h",
        meaning: "A retired key generation is archived this long after the last certificate it issued expired (it then signs only its final CRL, valid until its CA certificate expires).",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(1) && $0 <= .seconds(8760 * 3600) ? $0 : nil } })

    // MARK: Internal RPC (gRPC over mutual TLS)

    public static let signerRPCListen = ConfigVariable<ListenAddress>(
        "CERTCTL_SIGNER_RPC_LISTEN", default: "127.0.0.1:9443", services: [.signer],
        expected: "host:port such as 10.0.0.5:9443",
        meaning: "Where the signer serves internal gRPC (mutual TLS only). Use a loopback or private-network address.",
        parse: { ListenAddress(parsing: $0) })

    public static let signerAddress = ConfigVariable<ListenAddress>(
        "CERTCTL_SIGNER_ADDR", default: "127.0.0.1:9443", services: [.admin, .ocsp, .crl, .enroll],
        expected: "host:port of certctl-signer's gRPC listener (the host must be named in the signer's TLS certificate)",
        meaning: "Where services reach certctl-signer.",
        parse: { ListenAddress(parsing: $0) })

    public static let rpcTLSCert = ConfigVariable<String>(
        "CERTCTL_RPC_TLS_CERT", required: true, services: [.signer, .admin, .ocsp, .crl, .enroll],
        expected: "a path to this service's PEM identity certificate from the service-identity CA",
        meaning: "This service's internal-RPC identity certificate (URI SAN `urn:certctl:service:<name>`).",
        parse: nonEmptyPath)

    public static let rpcTLSKey = ConfigVariable<String>(
        "CERTCTL_RPC_TLS_KEY", required: true, services: [.signer, .admin, .ocsp, .crl, .enroll],
        expected: "a path to the PEM private key of CERTCTL_RPC_TLS_CERT, mode 0600",
        meaning: "Private key of the internal-RPC identity certificate (refused if group/others can read it).",
        parse: nonEmptyPath)

    public static let rpcTLSCA = ConfigVariable<String>(
        "CERTCTL_RPC_TLS_CA", required: true, services: [.signer, .admin, .ocsp, .crl, .enroll],
        expected: "a path to the PEM service-identity CA certificate",
        meaning: "The service-identity CA every internal-RPC peer must chain to (separate from the product CA).",
        parse: nonEmptyPath)

    // MARK: Admin

    public static let autoMigrate = ConfigVariable<Bool>(
        "CERTCTL_AUTO_MIGRATE", default: "true", services: [.admin],
        expected: "true or false",
        meaning: "Apply pending database migrations when certctl-admin starts (`certctl-admin migrate` runs them alone).",
        parse: parseBool)

    public static let apiKey = ConfigVariable<String>(
        "CERTCTL_API_KEY", services: [.admin],
        expected: "a secret of at least 32 printable characters",
        meaning: "Bootstrap admin API key: if set, stored (salted SHA-256 only) as an `admin` key for actor `bootstrap`; a new value revokes the bootstrap key it replaces, and a value revoked through the API stays revoked. Unset: no bootstrap key.",
        parse: { $0.count >= 32 && $0.allSatisfy { $0.isASCII && !$0.isWhitespace } ? $0 : nil })

    public static let ocspBaseURL = ConfigVariable<String>(
        "CERTCTL_OCSP_BASE_URL", default: "http://127.0.0.1:8081", services: [.admin, .enroll],
        expected: "an http(s) URL without a trailing slash, such as http://ocsp.example.com",
        meaning: "Public base URL of the OCSP tier; issued certificates carry `<this>/.well-known/pki/ocsp/<issuer_id>` in AIA.",
        parse: parseBaseURL)

    public static let crlBaseURL = ConfigVariable<String>(
        "CERTCTL_CRL_BASE_URL", default: "http://127.0.0.1:8082", services: [.admin, .enroll],
        expected: "an http(s) URL without a trailing slash, such as http://crl.example.com",
        meaning: "Public base URL of the CRL publisher; certificates carry `<this>/.well-known/pki/crl/<issuer_id>/<generation>` (CDP) and `<this>/.well-known/pki/ca/<issuer_id>/<generation>.crt` (AIA caIssuers).",
        parse: parseBaseURL)

    public static let pendingIssuanceTimeout = ConfigVariable<Duration>(
        "CERTCTL_PENDING_ISSUANCE_TIMEOUT", default: "5m", services: [.admin],
        expected: "a duration between 10s and 24h such as 5m",
        meaning: "A certificate reservation still `pending` after this long (signing never completed) is marked `failed`.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(10) && $0 <= .seconds(86_400) ? $0 : nil } })

    public static let certExportRateLimitPerActorHour = ConfigVariable<Int>(
        "CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR", default: "50", services: [.admin],
        expected: "a non-negative integer (0 disables the limit)",
        meaning: "Certificate exports allowed per API key per sliding hour, counted in Postgres across admin replicas (429 with Retry-After beyond it).",
        parse: nonNegativeInt)

    public static let auditHeadExportInterval = ConfigVariable<Duration>(
        "CERTCTL_AUDIT_HEAD_EXPORT_INTERVAL", default: "15m", services: [.admin],
        expected: "a duration between 10s and 24h such as 15m",
        meaning: "How often admin logs the audit chain head (`audit chain head` with seq and hash) for anchoring elsewhere; the `certctl_audit_chain_head_seq` gauge is updated every second.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(10) && $0 <= .seconds(86_400) ? $0 : nil } })

    public static let configEncryptionKey = ConfigVariable<[UInt8]>(
        "CERTCTL_CONFIG_ENCRYPTION_KEY", services: [.admin, .enroll],
        expected: "32 bytes as 64 hex digits or base64",
        meaning: "Key that encrypts secrets stored in the database (e.g. SCEP static challenges). Unset: storing such secrets is refused.",
        parse: parseKey32)

    // MARK: CRL

    public static let crlGenerationInterval = ConfigVariable<Duration>(
        "CERTCTL_CRL_GENERATION_INTERVAL", default: "1h", services: [.crl],
        expected: "a duration between 10s and 168h such as 90s, 15m, 1h",
        meaning: "How often every issuer's CRL is regenerated (revocations also trigger it).",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(10) && $0 <= .seconds(168 * 3600) ? $0 : nil } })

    public static let crlValidity = ConfigVariable<Duration>(
        "CERTCTL_CRL_VALIDITY", default: "4h", services: [.crl],
        expected: "a duration between 1m and 720h, longer than CERTCTL_CRL_GENERATION_INTERVAL, such as 4h",
        meaning: "A CRL's nextUpdate is its thisUpdate plus this; keep it several generation intervals so a missed run or a signer outage does not leave relying parties with an expired CRL.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(60) && $0 <= .seconds(720 * 3600) ? $0 : nil } })

    public static let crlRevocationDebounce = ConfigVariable<Duration>(
        "CERTCTL_CRL_REVOCATION_DEBOUNCE", default: "250ms", services: [.crl],
        expected: "a duration between 0s and 10s such as 250ms",
        meaning: "After a revocation notification the publisher waits this long for more before regenerating that issuer's CRL, so a burst of revocations yields a few CRLs, not one each.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .zero && $0 <= .seconds(10) ? $0 : nil } })

    public static let crlHTTPMaxAge = ConfigVariable<Duration>(
        "CERTCTL_CRL_HTTP_MAX_AGE", default: "5m", services: [.crl],
        expected: "a duration between 0s and 24h such as 5m",
        meaning: "Upper bound of the `Cache-Control: max-age` on CRL responses (otherwise the time left until nextUpdate), so HTTP caches pick up a revocation-triggered CRL soon.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .zero && $0 <= .seconds(86_400) ? $0 : nil } })

    // MARK: OCSP

    public static let ocspResponderKeyDir = ConfigVariable<String>(
        "CERTCTL_OCSP_RESPONDER_KEY_DIR", default: "/etc/certctl/ocsp-responder-keys", services: [.ocsp],
        expected: "a directory path",
        meaning: "Directory of delegated OCSP responder keys (one file per issuer, mode 0600). Created with mode 0700 if missing.",
        parse: nonEmptyPath)

    public static let ocspRateLimitPerIPMinute = ConfigVariable<Int>(
        "CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN", default: "1000", services: [.ocsp],
        expected: "a non-negative integer (0 disables the limit)",
        meaning: "OCSP requests allowed per source IP per minute; over it the answer is `tryLater`.",
        parse: nonNegativeInt)

    public static let ocspResponseValidity = ConfigVariable<Duration>(
        "CERTCTL_OCSP_RESPONSE_VALIDITY", default: "1h", services: [.ocsp],
        expected: "a duration between 1m and 168h such as 1h",
        meaning: "nextUpdate − thisUpdate of good/revoked responses; also the HTTP max-age horizon.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(60) && $0 <= .seconds(168 * 3600) ? $0 : nil } })

    public static let ocspRefreshMargin = ConfigVariable<Duration>(
        "CERTCTL_OCSP_REFRESH_MARGIN", default: "15m", services: [.ocsp],
        expected: "a duration of at least 10s and less than CERTCTL_OCSP_RESPONSE_VALIDITY, such as 15m",
        meaning: "Pre-signed responses are re-signed this long before their nextUpdate (background refresh).",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(10) ? $0 : nil } })

    public static let ocspFullSweepInterval = ConfigVariable<Duration>(
        "CERTCTL_OCSP_FULL_SWEEP_INTERVAL", default: "6h", services: [.ocsp],
        expected: "a duration between 1m and 168h such as 6h",
        meaning: "How often the pre-signing loop checks every certificate (besides start-up); the ticks between look only at what changed.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(60) && $0 <= .seconds(168 * 3600) ? $0 : nil } })

    public static let ocspResponderValidity = ConfigVariable<Duration>(
        "CERTCTL_OCSP_RESPONDER_VALIDITY", default: "720h", services: [.ocsp],
        expected: "a duration between 1h and 2160h (the signer allows at most 90 days)",
        meaning: "Validity of each delegated responder certificate the OCSP tier asks the signer for.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(3600) && $0 <= .seconds(2160 * 3600) ? $0 : nil } })

    public static let ocspResponderRotationGrace = ConfigVariable<Duration>(
        "CERTCTL_OCSP_RESPONDER_ROTATION_GRACE", default: "168h", services: [.ocsp],
        expected: "a duration shorter than CERTCTL_OCSP_RESPONDER_VALIDITY, such as 168h",
        meaning: "A responder certificate this close to its notAfter is replaced (new key, new certificate) on the next signature.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .seconds(60) ? $0 : nil } })

    public static let ocspCacheMaxEntries = ConfigVariable<Int>(
        "CERTCTL_OCSP_CACHE_MAX_ENTRIES", default: "100000", services: [.ocsp],
        expected: "an integer from 0 to 10000000 (0 disables the in-memory cache)",
        meaning: "Bound of each replica's in-memory response cache (entries; about 1 KiB each).",
        parse: { Int($0).flatMap { (0...10_000_000).contains($0) ? $0 : nil } })

    public static let ocspRateLimitMaxSources = ConfigVariable<Int>(
        "CERTCTL_OCSP_RATE_LIMIT_MAX_SOURCES", default: "1000000", services: [.ocsp],
        expected: "an integer from 1000 to 100000000",
        meaning: "Most sources the per-IP rate limit counts in one minute (bounds its memory, about 64 bytes each); sources beyond it that minute are answered uncounted and counted in `certctl_ocsp_rate_limit_overflow_total`.",
        parse: { Int($0).flatMap { (1_000...100_000_000).contains($0) ? $0 : nil } })

    public static let ocspRateLimitIPv6Prefix = ConfigVariable<Int>(
        "CERTCTL_OCSP_RATE_LIMIT_IPV6_PREFIX", default: "64", services: [.ocsp],
        expected: "an integer from 32 to 128",
        meaning: "IPv6 sources count against the per-IP rate limit by this network prefix (a host usually holds a whole /64).",
        parse: { Int($0).flatMap { (32...128).contains($0) ? $0 : nil } })

    public static let ocspTrustedProxies = ConfigVariable<[String]>(
        "CERTCTL_OCSP_TRUSTED_PROXIES", services: [.ocsp],
        expected: "comma-separated IPv4/IPv6 addresses or CIDR blocks such as 10.0.0.0/8,192.0.2.7",
        meaning: "Peers whose X-Forwarded-For is believed for the per-IP rate limit. Unset: the TCP peer address is the client.",
        parse: { text in
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return items.isEmpty || items.contains(where: { !IPMatcher.isValidPattern($0) }) ? nil : items
        })

    // MARK: Enrollment (SCEP, EST)

    public static let enrollTrustedProxies = ConfigVariable<[String]>(
        "CERTCTL_ENROLL_TRUSTED_PROXIES", services: [.enroll],
        expected: "comma-separated IPv4/IPv6 addresses or CIDR blocks such as 10.0.0.0/8,192.0.2.7",
        meaning: "Peers whose X-Forwarded-For is believed for the client address SCEP audit rows and throttles use. Unset: the TCP peer address is the client; anyone's X-Forwarded-For is ignored.",
        parse: { text in
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return items.isEmpty || items.contains(where: { !IPMatcher.isValidPattern($0) }) ? nil : items
        })

    public static let scepChallengeFailuresPerSource = ConfigVariable<Int>(
        "CERTCTL_SCEP_CHALLENGE_FAILURES_PER_SOURCE_MIN", default: "10", services: [.enroll],
        expected: "a non-negative integer (0 disables the limit)",
        meaning: "Wrong SCEP challenges one client address may send to one profile per minute; beyond it requests are refused before their challenge is checked (`scep_challenge_throttled`). Counted per enroll replica.",
        parse: nonNegativeInt)

    public static let scepChallengeFailuresPerEndpoint = ConfigVariable<Int>(
        "CERTCTL_SCEP_CHALLENGE_FAILURES_PER_ENDPOINT_MIN", default: "100", services: [.enroll],
        expected: "a non-negative integer (0 disables the limit)",
        meaning: "Wrong SCEP challenges one profile accepts per minute from all addresses together, against guessing from many addresses (`scep_challenge_throttled`). Counted per enroll replica.",
        parse: nonNegativeInt)

    public static let enrollRefusalAuditWindow = ConfigVariable<Duration>(
        "CERTCTL_ENROLL_REFUSAL_AUDIT_WINDOW", default: "1m", services: [.enroll],
        expected: "a duration between 100ms and 1h such as 1m",
        meaning: "SCEP, EST and EST-TLS refusals are audited in aggregate: one audit row per client address (certificate fingerprint for TLS), refusal code and window, carrying the count, written when the window ends.",
        parse: { GoDuration.parse($0).flatMap { $0 >= .milliseconds(100) && $0 <= .seconds(3600) ? $0 : nil } })

    public static let scepAllowSingleDES = ConfigVariable<Bool>(
        "CERTCTL_SCEP_ALLOW_SINGLE_DES", default: "false", services: [.enroll],
        expected: "true or false",
        meaning: "Accept SCEP messages enveloped with single DES (des-cbc, 56-bit keys) from clients too old for AES or 3DES. Off: such a message gets CertRep FAILURE badAlg (`scep_single_des_disabled`).",
        parse: parseBool)

    static let profileName: @Sendable (String) -> String? = { text in
        text.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil ? text : nil
    }

    public static let scepBootstrapProfile = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_PROFILE", services: [.admin, .enroll],
        expected: "a SCEP profile name: lower-case letters, digits, - and _ (at most 63)",
        meaning: "If set, certctl-enroll creates this SCEP profile at start when it does not exist yet (the other SCEP bootstrap variables describe it); an existing profile is never changed.",
        parse: profileName)

    public static let scepBootstrapIssuer = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_ISSUER_ID", default: "iss-local", services: [.admin],
        expected: "an issuer id",
        meaning: "Issuer of the bootstrap SCEP profile.",
        parse: { $0.isEmpty ? nil : $0 })

    public static let scepBootstrapCertProfile = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_CERT_PROFILE", default: "default", services: [.admin],
        expected: "a certificate profile id",
        meaning: "Certificate profile the bootstrap SCEP profile issues under.",
        parse: { $0.isEmpty ? nil : $0 })

    public static let scepBootstrapRACert = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_RA_CERT", services: [.admin, .enroll],
        expected: "a PEM certificate file path",
        meaning: "RA certificate (RSA) of the bootstrap SCEP profile; required with `CERTCTL_SCEP_BOOTSTRAP_PROFILE`.",
        parse: nonEmptyPath)

    public static let scepBootstrapRAKey = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_RA_KEY", services: [.admin, .enroll],
        expected: "a PEM RSA private key file path (mode 0600)",
        meaning: "RA private key of the bootstrap SCEP profile; required with `CERTCTL_SCEP_BOOTSTRAP_PROFILE`.",
        parse: nonEmptyPath)

    public static let scepBootstrapChallenge = ConfigVariable<String>(
        "CERTCTL_SCEP_BOOTSTRAP_CHALLENGE", services: [.admin],
        expected: "a secret of 8 to 255 characters",
        meaning: "Static challenge password of the bootstrap SCEP profile (only its SHA-256 is stored). Unset: the profile accepts only one-time challenges.",
        parse: { (8...255).contains($0.count) ? $0 : nil })

    public static let estListen = ConfigVariable<ListenAddress>(
        "CERTCTL_EST_LISTEN", services: [.enroll],
        expected: "host:port such as 0.0.0.0:8443",
        meaning: "EST (RFC 7030) HTTPS listener of certctl-enroll. Unset: no EST. Needs `CERTCTL_EST_TLS_CERT` and `CERTCTL_EST_TLS_KEY`.",
        parse: { ListenAddress(parsing: $0) })

    public static let adminTLSCert = ConfigVariable<String>(
        "CERTCTL_ADMIN_TLS_CERT", services: [.admin],
        expected: "a PEM certificate chain file path (set together with CERTCTL_ADMIN_TLS_KEY)",
        meaning: "Serve the admin API over HTTPS with this certificate chain. Unset: plain HTTP (keep the listener on loopback then).",
        parse: nonEmptyPath)

    public static let adminTLSKey = ConfigVariable<String>(
        "CERTCTL_ADMIN_TLS_KEY", services: [.admin],
        expected: "a PEM private key file path (mode 0600)",
        meaning: "TLS private key of the admin API; refused at start if group or others can read it.",
        parse: nonEmptyPath)

    public static let estTLSCert = ConfigVariable<String>(
        "CERTCTL_EST_TLS_CERT", services: [.enroll],
        expected: "a PEM certificate chain file path",
        meaning: "TLS server certificate chain of the EST listener.",
        parse: nonEmptyPath)

    public static let estTLSKey = ConfigVariable<String>(
        "CERTCTL_EST_TLS_KEY", services: [.enroll],
        expected: "a PEM private key file path (mode 0600)",
        meaning: "TLS private key of the EST listener; refused at start if group or others can read it.",
        parse: nonEmptyPath)

    /// Every variable, for the documentation guard and `config-reference`.
    public static let all: [ConfigVariableInfo] = [
        databaseURL.info, databasePasswordFile.info, databasePoolSize.info, logLevel.info, logFormat.info,
        signerHealthListen.info, adminListen.info, ocspListen.info, crlListen.info, enrollListen.info,
        httpIdleTimeout.info, httpHeaderTimeout.info, httpBodyTimeout.info, tlsHandshakeTimeout.info, httpMaxConnections.info,
        caCertPath.info, caKeyPath.info, signerCRLMaxValidity.info, signerKeyDir.info, signerArchiveGrace.info, signerMaxClockSkew.info,
        signerRPCListen.info, signerAddress.info, rpcTLSCert.info, rpcTLSKey.info, rpcTLSCA.info,
        autoMigrate.info, apiKey.info, ocspBaseURL.info, crlBaseURL.info, pendingIssuanceTimeout.info,
        certExportRateLimitPerActorHour.info, auditHeadExportInterval.info, enrollTrustedProxies.info, scepAllowSingleDES.info, scepChallengeFailuresPerSource.info, scepChallengeFailuresPerEndpoint.info, enrollRefusalAuditWindow.info, ocspRateLimitMaxSources.info, ocspRateLimitIPv6Prefix.info, configEncryptionKey.info,
        crlGenerationInterval.info, crlValidity.info, crlRevocationDebounce.info, crlHTTPMaxAge.info,
        ocspResponderKeyDir.info, ocspRateLimitPerIPMinute.info, ocspResponseValidity.info, ocspRefreshMargin.info, ocspFullSweepInterval.info,
        ocspResponderValidity.info, ocspResponderRotationGrace.info, ocspCacheMaxEntries.info, ocspTrustedProxies.info,
        scepBootstrapProfile.info, scepBootstrapIssuer.info, scepBootstrapCertProfile.info, scepBootstrapRACert.info,
        scepBootstrapRAKey.info, scepBootstrapChallenge.info, estListen.info, estTLSCert.info, estTLSKey.info,
        adminTLSCert.info, adminTLSKey.info,
    ]

    // MARK: Parsers shared by several variables

    static let nonEmptyPath: @Sendable (String) -> String? = { $0.isEmpty || $0.contains("\0") ? nil : $0 }

    static let parseBaseURL: @Sendable (String) -> String? = { text in
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme),
              url.host != nil, !text.hasSuffix("/"), url.query == nil
        else { return nil }
        return text
    }

    static let nonNegativeInt: @Sendable (String) -> Int? = { Int($0).flatMap { $0 >= 0 ? $0 : nil } }

    static func durationIn(_ range: ClosedRange<Duration>) -> @Sendable (String) -> Duration? {
        { GoDuration.parse($0).flatMap { range.contains($0) ? $0 : nil } }
    }

    static let parseBool: @Sendable (String) -> Bool? = {
        switch $0.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }

    static let parseKey32: @Sendable (String) -> [UInt8]? = { text in
        if text.count == 64, let bytes = Hex.bytes(text) { return bytes }
        if let data = Data(base64Encoded: text), data.count == 32 { return Array(data) }
        return nil
    }
}

/// Log line format.
public enum LogFormat: String, Sendable {
    case json, text
}
