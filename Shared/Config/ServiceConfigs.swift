import Foundation
import Logging

/// Settings every executable reads.
public struct CommonConfig: Sendable {
    public var database: DatabaseURL
    public var databasePoolSize: Int
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Deadlines and connection cap of every HTTP listener the process runs.
    public var listenerLimits: ListenerLimits

    public init(_ env: Environment) throws(ConfigError) {
        database = try env.read(Catalog.databaseURL)
        if let path = try env.readOptional(Catalog.databasePasswordFile) {
            try PrivateFile.checkOwnerOnly(path, variable: Catalog.databasePasswordFile.name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  case let password = text.trimmingCharacters(in: .newlines), !password.isEmpty else {
                throw ConfigError(variable: Catalog.databasePasswordFile.name, value: path, expected: "a file holding a non-empty password")
            }
            database.password = password
        }
        if let path = database.rootCertificatePath {
            try PrivateFile.checkReadable(path, variable: Catalog.databaseURL.name)
        }
        databasePoolSize = try env.read(Catalog.databasePoolSize)
        logLevel = try env.read(Catalog.logLevel)
        logFormat = try env.read(Catalog.logFormat)
        listenerLimits = try ListenerLimits(env)
    }
}

/// A service's configuration: the common part plus where it serves HTTP.
public protocol ServiceConfig: Sendable {
    static var service: ServiceName { get }
    var common: CommonConfig { get }
    /// Where `/healthz`, `/readyz`, `/metrics` (and the service's own routes) are served.
    var httpListen: ListenAddress { get }
    /// Certificate chain and key when that listener serves HTTPS.
    var httpTLS: TLSFiles? { get }
    init(_ env: Environment) throws(ConfigError)
}

extension ServiceConfig {
    public var httpTLS: TLSFiles? { nil }
}

/// A TLS server's certificate chain and private key files.
public struct TLSFiles: Sendable {
    public var certificatePath: String
    public var keyPath: String

    /// Both variables or neither; the key readable by its owner only.
    init?(_ env: Environment, certificate: ConfigVariable<String>, key: ConfigVariable<String>) throws(ConfigError) {
        let certPath = try env.readOptional(certificate), keyPath = try env.readOptional(key)
        guard certPath != nil || keyPath != nil else { return nil }
        guard let certPath, let keyPath else {
            throw ConfigError(variable: certPath == nil ? certificate.name : key.name, value: nil,
                              expected: "set together with \(certPath == nil ? key.name : certificate.name)")
        }
        try PrivateFile.checkReadable(certPath, variable: certificate.name)
        try PrivateFile.checkOwnerOnly(keyPath, variable: key.name)
        certificatePath = certPath
        self.keyPath = keyPath
    }
}

/// Paths of a service's internal-RPC identity (mutual TLS).
public struct RPCIdentityPaths: Sendable {
    public var certificatePath: String
    public var keyPath: String
    public var caPath: String

    public init(_ env: Environment) throws(ConfigError) {
        certificatePath = try env.read(Catalog.rpcTLSCert)
        keyPath = try env.read(Catalog.rpcTLSKey)
        caPath = try env.read(Catalog.rpcTLSCA)
    }

    /// Refuses to start (naming the variable) unless the certificate and CA
    /// are readable and the key is readable by its owner only.
    public func checkFiles() throws(ConfigError) {
        try PrivateFile.checkReadable(certificatePath, variable: Catalog.rpcTLSCert.name)
        try PrivateFile.checkOwnerOnly(keyPath, variable: Catalog.rpcTLSKey.name)
        try PrivateFile.checkReadable(caPath, variable: Catalog.rpcTLSCA.name)
    }
}

public struct SignerConfig: ServiceConfig {
    public static let service = ServiceName.signer
    public var common: CommonConfig
    public var httpListen: ListenAddress
    public var rpcListen: ListenAddress
    public var rpcIdentity: RPCIdentityPaths
    public var caCertPath: String
    public var caKeyPath: String
    public var crlMaxValidity: Duration
    public var keyDir: String
    public var archiveGrace: Duration
    public var maxClockSkew: Duration

    public init(_ env: Environment) throws(ConfigError) {
        common = try CommonConfig(env)
        httpListen = try env.read(Catalog.signerHealthListen)
        rpcListen = try env.read(Catalog.signerRPCListen)
        rpcIdentity = try RPCIdentityPaths(env)
        caCertPath = try env.read(Catalog.caCertPath)
        caKeyPath = try env.read(Catalog.caKeyPath)
        crlMaxValidity = try env.read(Catalog.signerCRLMaxValidity)
        keyDir = try env.read(Catalog.signerKeyDir)
        archiveGrace = try env.read(Catalog.signerArchiveGrace)
        maxClockSkew = try env.read(Catalog.signerMaxClockSkew)
    }
}

public struct AdminConfig: ServiceConfig {
    public static let service = ServiceName.admin
    public var common: CommonConfig
    public var httpListen: ListenAddress
    public var autoMigrate: Bool
    public var bootstrapAPIKey: String?
    public var certExportRateLimitPerActorHour: Int
    public var auditHeadExportInterval: Duration
    public var configEncryptionKey: [UInt8]?
    public var signerAddress: ListenAddress
    public var rpcIdentity: RPCIdentityPaths
    public var ocspBaseURL: String
    public var crlBaseURL: String
    public var pendingIssuanceTimeout: Duration
    public var httpTLS: TLSFiles?
    /// The SCEP endpoint to create at start when absent.
    public var scepBootstrap: SCEPBootstrap?

    public init(_ env: Environment) throws(ConfigError) {
        common = try CommonConfig(env)
        httpListen = try env.read(Catalog.adminListen)
        httpTLS = try TLSFiles(env, certificate: Catalog.adminTLSCert, key: Catalog.adminTLSKey)
        scepBootstrap = try SCEPBootstrap(env)
        signerAddress = try env.read(Catalog.signerAddress)
        rpcIdentity = try RPCIdentityPaths(env)
        ocspBaseURL = try env.read(Catalog.ocspBaseURL)
        crlBaseURL = try env.read(Catalog.crlBaseURL)
        pendingIssuanceTimeout = try env.read(Catalog.pendingIssuanceTimeout)
        autoMigrate = try env.read(Catalog.autoMigrate)
        bootstrapAPIKey = try env.readOptional(Catalog.apiKey)
        certExportRateLimitPerActorHour = try env.read(Catalog.certExportRateLimitPerActorHour)
        auditHeadExportInterval = try env.read(Catalog.auditHeadExportInterval)
        configEncryptionKey = try env.readOptional(Catalog.configEncryptionKey)
    }
}

public struct OCSPConfig: ServiceConfig {
    public static let service = ServiceName.ocsp
    public var common: CommonConfig
    public var httpListen: ListenAddress
    public var responderKeyDirectory: String
    public var rateLimitPerIPMinute: Int
    public var rateLimitMaxSources: Int
    public var rateLimitIPv6Prefix: Int
    public var responseValidity: Duration
    public var refreshMargin: Duration
    public var fullSweepInterval: Duration
    public var responderValidity: Duration
    public var responderRotationGrace: Duration
    public var cacheMaxEntries: Int
    public var trustedProxies: [String]

    public var signerAddress: ListenAddress
    public var rpcIdentity: RPCIdentityPaths

    public init(_ env: Environment) throws(ConfigError) {
        common = try CommonConfig(env)
        httpListen = try env.read(Catalog.ocspListen)
        signerAddress = try env.read(Catalog.signerAddress)
        rpcIdentity = try RPCIdentityPaths(env)
        responderKeyDirectory = try env.read(Catalog.ocspResponderKeyDir)
        rateLimitPerIPMinute = try env.read(Catalog.ocspRateLimitPerIPMinute)
        responseValidity = try env.read(Catalog.ocspResponseValidity)
        refreshMargin = try env.read(Catalog.ocspRefreshMargin)
        fullSweepInterval = try env.read(Catalog.ocspFullSweepInterval)
        responderValidity = try env.read(Catalog.ocspResponderValidity)
        responderRotationGrace = try env.read(Catalog.ocspResponderRotationGrace)
        cacheMaxEntries = try env.read(Catalog.ocspCacheMaxEntries)
        trustedProxies = try env.readOptional(Catalog.ocspTrustedProxies) ?? []
        rateLimitMaxSources = try env.read(Catalog.ocspRateLimitMaxSources)
        rateLimitIPv6Prefix = try env.read(Catalog.ocspRateLimitIPv6Prefix)
        guard refreshMargin < responseValidity else {
            throw ConfigError(variable: Catalog.ocspRefreshMargin.name, value: GoDuration.format(refreshMargin),
                              expected: "less than CERTCTL_OCSP_RESPONSE_VALIDITY (\(GoDuration.format(responseValidity)))")
        }
        guard responderRotationGrace < responderValidity else {
            throw ConfigError(variable: Catalog.ocspResponderRotationGrace.name, value: GoDuration.format(responderRotationGrace),
                              expected: "less than CERTCTL_OCSP_RESPONDER_VALIDITY (\(GoDuration.format(responderValidity)))")
        }
    }
}

public struct CRLConfig: ServiceConfig {
    public static let service = ServiceName.crl
    public var common: CommonConfig
    public var httpListen: ListenAddress
    public var generationInterval: Duration
    public var validity: Duration
    public var revocationDebounce: Duration
    public var httpMaxAge: Duration

    public var signerAddress: ListenAddress
    public var rpcIdentity: RPCIdentityPaths

    public init(_ env: Environment) throws(ConfigError) {
        common = try CommonConfig(env)
        httpListen = try env.read(Catalog.crlListen)
        signerAddress = try env.read(Catalog.signerAddress)
        rpcIdentity = try RPCIdentityPaths(env)
        generationInterval = try env.read(Catalog.crlGenerationInterval)
        validity = try env.read(Catalog.crlValidity)
        revocationDebounce = try env.read(Catalog.crlRevocationDebounce)
        httpMaxAge = try env.read(Catalog.crlHTTPMaxAge)
        guard validity > generationInterval else {
            throw ConfigError(variable: Catalog.crlValidity.name, value: GoDuration.format(validity),
                              expected: "longer than \(Catalog.crlGenerationInterval.name) (\(GoDuration.format(generationInterval)))")
        }
    }
}

public struct EnrollConfig: ServiceConfig {
    public static let service = ServiceName.enroll
    public var common: CommonConfig
    public var httpListen: ListenAddress
    public var configEncryptionKey: [UInt8]?

    public var signerAddress: ListenAddress
    public var rpcIdentity: RPCIdentityPaths
    /// The bootstrap SCEP endpoint's RA files, checked at start (admin creates the endpoint).
    public var scepBootstrap: SCEPBootstrapRA?
    /// EST listener, certificate chain and key paths; nil = EST off.
    public var est: (listen: ListenAddress, certPath: String, keyPath: String)?
    /// Same publication URLs as admin: SCEP/EST certificates must point where admin-issued ones do.
    public var ocspBaseURL: String
    public var crlBaseURL: String
    /// Peers whose X-Forwarded-For is believed.
    public var trustedProxies: [String]
    public var scepAllowSingleDES: Bool
    public var scepChallengeFailuresPerSource: Int
    public var scepChallengeFailuresPerEndpoint: Int
    public var refusalAuditWindow: Duration

    public init(_ env: Environment) throws(ConfigError) {
        common = try CommonConfig(env)
        httpListen = try env.read(Catalog.enrollListen)
        trustedProxies = try env.readOptional(Catalog.enrollTrustedProxies) ?? []
        scepAllowSingleDES = try env.read(Catalog.scepAllowSingleDES)
        scepChallengeFailuresPerSource = try env.read(Catalog.scepChallengeFailuresPerSource)
        scepChallengeFailuresPerEndpoint = try env.read(Catalog.scepChallengeFailuresPerEndpoint)
        refusalAuditWindow = try env.read(Catalog.enrollRefusalAuditWindow)
        signerAddress = try env.read(Catalog.signerAddress)
        rpcIdentity = try RPCIdentityPaths(env)
        configEncryptionKey = try env.readOptional(Catalog.configEncryptionKey)
        ocspBaseURL = try env.read(Catalog.ocspBaseURL)
        crlBaseURL = try env.read(Catalog.crlBaseURL)
        if let listen = try env.readOptional(Catalog.estListen) {
            guard let cert = try env.readOptional(Catalog.estTLSCert), let key = try env.readOptional(Catalog.estTLSKey) else {
                throw ConfigError(variable: Catalog.estTLSCert.name, value: nil,
                                  expected: "CERTCTL_EST_TLS_CERT and CERTCTL_EST_TLS_KEY (required with CERTCTL_EST_LISTEN)")
            }
            try PrivateFile.checkReadable(cert, variable: Catalog.estTLSCert.name)
            try PrivateFile.checkOwnerOnly(key, variable: Catalog.estTLSKey.name)
            est = (listen, cert, key)
        }
        scepBootstrap = try SCEPBootstrapRA(env)
    }
}

/// The RA files of the SCEP endpoint the bootstrap variables describe.
public struct SCEPBootstrapRA: Sendable {
    public var name: String
    public var raCertPath: String
    public var raKeyPath: String

    /// nil when CERTCTL_SCEP_BOOTSTRAP_PROFILE is unset; both RA files are then required.
    init?(_ env: Environment) throws(ConfigError) {
        guard let name = try env.readOptional(Catalog.scepBootstrapProfile) else { return nil }
        guard let cert = try env.readOptional(Catalog.scepBootstrapRACert) else {
            throw ConfigError(variable: Catalog.scepBootstrapRACert.name, value: nil, expected: "a PEM certificate file path (required with CERTCTL_SCEP_BOOTSTRAP_PROFILE)")
        }
        guard let key = try env.readOptional(Catalog.scepBootstrapRAKey) else {
            throw ConfigError(variable: Catalog.scepBootstrapRAKey.name, value: nil, expected: "a PEM RSA key file path (required with CERTCTL_SCEP_BOOTSTRAP_PROFILE)")
        }
        self.name = name
        raCertPath = cert
        raKeyPath = key
    }
}

/// The SCEP endpoint certctl-admin creates at start when absent (the SCEP
/// bootstrap variables): admin writes policy; the RA files are enroll's.
public struct SCEPBootstrap: Sendable {
    public var ra: SCEPBootstrapRA
    public var issuerID: String
    public var certificateProfile: String
    public var challenge: String?

    init?(_ env: Environment) throws(ConfigError) {
        guard let ra = try SCEPBootstrapRA(env) else { return nil }
        self.ra = ra
        issuerID = try env.read(Catalog.scepBootstrapIssuer)
        certificateProfile = try env.read(Catalog.scepBootstrapCertProfile)
        challenge = try env.readOptional(Catalog.scepBootstrapChallenge)
    }
}
