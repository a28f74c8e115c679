import CertctlAdminCore
import CertctlConfig
import CertctlIssuance
import CertctlPKI
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// The admin REST API (`AdminAPI.addRoutes`, what certctl-admin serves) run in-process through
/// HummingbirdTesting's router framework, on a fresh migrated database of the test Postgres
/// server, with one API key per role.
///
/// The signer is real or absent, never faked: with `signer: true` a certctl-signer process runs on
/// the same database (it registers issuer `iss-local` from a throwaway CA) and the routes call it
/// through a `GRPCSigningClient` with mutual TLS. Without, the routes get a `GRPCSigningClient`
/// dialling a loopback port where nothing listens: a route that tried to sign would wait out the
/// issuance timeout and answer 503 signer_unavailable.
struct AdminAPIStack: Sendable {
    let url: DatabaseURL
    /// The pool the routes use (for seeding through the stores).
    let client: DatabaseClient
    let ca: TestCA
    let http: any TestClientProtocol
    let keys: [APIRole: String]
    /// The routes' signer client (admin's identity).
    let signing: GRPCSigningClient
    /// The tables of the migrated schema.
    let tables: [String]
    static let urls = PublicationURLs(ocspBase: "http://ocsp.test", crlBase: "http://crl.test")

    /// The actor each role's key was issued to.
    static func actor(_ role: APIRole) -> String { "test-\(role.rawValue)" }

    static func run(signer: Bool = false, exportLimitPerHour: Int = 50, console: ConsoleOptions = ConsoleOptions(),
                    logger: Logger = TestEnvironment.logger, _ body: @Sendable (AdminAPIStack) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let identities = try TestCA.identities(in: ca.directory + "/rpc", for: signer ? ["signer", "admin"] : ["admin"])
            let rpcPort = freePort()
            var child: ChildProcess?
            if signer {
                let healthPort = freePort()
                let process = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: [
                    "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url), "CERTCTL_LOG_FORMAT": "text", "CERTCTL_DATABASE_POOL_SIZE": "2",
                    "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(healthPort)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(rpcPort)",
                    "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
                    "CERTCTL_SIGNER_KEY_DIR": ca.directory + "/generations", "CERTCTL_SIGNER_ARCHIVE_GRACE": "1s",
                ].merging(identities.environment(for: "signer")) { a, _ in a })
                child = process
                try await process.eventually("/readyz 200") {
                    try await HTTP.get("http://127.0.0.1:\(healthPort)/readyz").status == 200
                }
            }
            defer { child?.signal(SIGKILL) }
            let tables = try await TestEnvironment.tables(url).sorted()
            let database = Database(url: url, maximumConnections: 3, logger: logger)
            let connection = SignerConnectionService(connection: try SignerConnection(
                address: ListenAddress(host: "127.0.0.1", port: rpcPort),
                tls: RPCTLSFiles(certificatePath: "\(identities.directory)/admin.crt", keyPath: "\(identities.directory)/admin.key",
                                 caPath: "\(identities.directory)/ca.crt")))
            let router = Router()
            try AdminAPI.addRoutes(to: router, database: database, signing: connection.connection.signing, urls: urls,
                                   exportLimitPerHour: exportLimitPerHour, logger: logger)
            Console.addRoutes(to: router, database: database, signing: connection.connection.signing, urls: urls,
                              exportLimitPerHour: exportLimitPerHour, options: console, logger: logger)
            let app = Application(router: router, services: [database, connection], logger: logger)
            try await app.test(.router) { http in
                let store = APIKeyStore(client: database.client, logger: logger)
                var keys: [APIRole: String] = [:]
                for role in APIRole.allCases {
                    let key = APIKeyStore.generate()
                    try await store.ensure(key: key, role: role, actor: actor(role), service: "tests")
                    keys[role] = key
                }
                try await body(AdminAPIStack(url: url, client: database.client, ca: ca, http: http, keys: keys,
                                             signing: connection.connection.signing, tables: tables))
            }
            if let child { #expect(await child.stop() == 0, "certctl-signer: \(child.stderr.suffix(2000))") }
        }
    }
}

// MARK: - Requests

/// How a request authenticates.
enum APIAuth {
    case role(APIRole)
    /// Sends `Authorization: Bearer <key>`.
    case key(String)
    /// Sends this Authorization header as it is.
    case header(String)
    case none
}

/// A body to send.
enum APIBody {
    /// Serialised with JSONSerialization, sent as application/json.
    case json([String: Any])
    /// Sent as it is, with this Content-Type (nil: no Content-Type header).
    case raw(String, contentType: String?)
}

struct APIReply {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    /// The body as bytes (binary answers: DER, PKCS#7, PKCS#12).
    var bytes: [UInt8] = []

    /// The body as a JSON object ([:] when it is not one).
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:] }
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    /// The typed error code of an error body.
    var error: String? { json["error"] as? String }
    subscript(_ key: String) -> Any? { json[key] }

    /// Expects the typed JSON error `code` with `status`: `{"error": code, "message": text}`, not cached.
    func expectError(_ status: HTTPResponse.Status, _ code: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status, "\(what): \(text)", sourceLocation: sourceLocation)
        #expect(error == code, "\(what): \(text)", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/json", "\(what)", sourceLocation: sourceLocation)
        #expect(headers[.cacheControl] == "no-store", "\(what)", sourceLocation: sourceLocation)
        #expect((json["message"] as? String)?.isEmpty == false, "\(what): an error says what was wrong: \(text)",
                sourceLocation: sourceLocation)
    }
}

extension AdminAPIStack {
    /// The one way these tests send a request to the API.
    @discardableResult
    func call(_ method: HTTPRequest.Method, _ path: String, _ body: APIBody? = nil, auth: APIAuth = .role(.admin),
              headers extra: [String: String] = [:]) async throws -> APIReply {
        var headers = HTTPFields()
        switch auth {
        case .role(let role): headers[.authorization] = "Bearer \(keys[role]!)"
        case .key(let key): headers[.authorization] = "Bearer \(key)"
        case .header(let value): headers[.authorization] = value
        case .none: break
        }
        var buffer: ByteBuffer?
        switch body {
        case .json(let object):
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
        case .raw(let text, let contentType):
            if let contentType { headers[.contentType] = contentType }
            buffer = ByteBuffer(string: text)
        case nil:
            break
        }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        let response = try await http.executeRequest(uri: path, method: method, headers: headers, body: buffer)
        return APIReply(status: response.status, headers: response.headers, text: String(buffer: response.body),
                        bytes: Array(buffer: response.body))
    }

    /// Every table's content (an md5 over its rows in a fixed order), to show that a refused request changed nothing.
    /// An API key's `last_used_at` is bookkeeping that any authenticated request may move (once a minute):
    /// it is left out.
    func snapshot() async throws -> [String: String] {
        let sql = tables.map { table in
            let row = table == "api_keys" ? "(to_jsonb(t) - 'last_used_at')::text" : "t::text"
            return "SELECT '\(table)', md5(coalesce(string_agg(\(row), E'\\n' ORDER BY \(row)), '')) FROM \"\(table)\" t"
        }.joined(separator: " UNION ALL ")
        var digests: [String: String] = [:]
        for try await (table, digest) in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
            .decode((String, String).self) {
            digests[table] = digest
        }
        return digests
    }

    /// Runs `body` and expects every table unchanged afterwards.
    @discardableResult
    func expectUnchanged<T>(_ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                            _ body: () async throws -> T) async throws -> T {
        let before = try await snapshot()
        let result = try await body()
        let after = try await snapshot()
        #expect(after == before, "\(what) changed \(after.keys.filter { after[$0] != before[$0] }.sorted())",
                sourceLocation: sourceLocation)
        return result
    }

    /// Sends the request and expects the typed JSON error `code` with `status`, and no table changed.
    @discardableResult
    func expectRefused(
        _ status: HTTPResponse.Status, _ code: String, _ method: HTTPRequest.Method, _ path: String, _ body: APIBody? = nil,
        auth: APIAuth = .role(.admin), headers: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIReply {
        try await expectUnchanged("\(method) \(path)", sourceLocation: sourceLocation) {
            let reply = try await call(method, path, body, auth: auth, headers: headers)
            reply.expectError(status, code, "\(method) \(path)", sourceLocation: sourceLocation)
            return reply
        }
    }

    /// The single integer result of `sql` on this stack's database.
    func count(_ sql: String) async throws -> Int {
        try await TestEnvironment.scalar(sql, url) ?? -1
    }
}

/// Whether a JSON value is null or absent.
func isNull(_ value: Any?) -> Bool {
    value == nil || value is NSNull
}

/// A query parameter value, percent-encoded.
func queryValue(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
}

// MARK: - Fixtures

extension AdminAPIStack {
    /// Registers a self-signed P-256 CA certificate as the active generation of `issuerID`, through
    /// the store call certctl-signer makes at start (no signer needed). Returns the certificate.
    @discardableResult
    func addIssuer(_ issuerID: String, commonName: String? = nil) async throws -> Certificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName ?? "certctl test issuer \(issuerID)") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: SerialNumber.random()), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(30 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = serializer.serializedBytes
        serializer = DER.Serializer()
        try serializer.serialize(certificate.subject)
        let subjectDER = serializer.serializedBytes
        // RFC 6960 keyHash: over the subjectPublicKey BIT STRING's value (the uncompressed point).
        let keyBits = Array(key.publicKey.x963Representation)
        _ = try await IssuerStore(client: client, logger: TestEnvironment.logger).registerEnvironmentGeneration(IssuerGenerationFacts(
            issuerID: issuerID, displayName: "Test issuer \(issuerID)", certificateDER: der, subjectDER: subjectDER,
            subjectKeyID: Array(try TBSCertificateBuilder.issuerKeyIdentifier(certificate)),
            nameHashSHA1: Array(Insecure.SHA1.hash(data: subjectDER)), keyHashSHA1: Array(Insecure.SHA1.hash(data: keyBits)),
            nameHashSHA256: Array(SHA256.hash(data: subjectDER)), keyHashSHA256: Array(SHA256.hash(data: keyBits)),
            keyAlgorithm: KeyAlgorithm.ecdsaP256.rawValue, certPath: nil, keyPath: nil,
            notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter))
        return certificate
    }

    /// Another API key with `role` for `actor`.
    func addKey(_ role: APIRole, actor: String) async throws -> String {
        let key = APIKeyStore.generate()
        try await APIKeyStore(client: client, logger: TestEnvironment.logger).ensure(key: key, role: role, actor: actor, service: "tests")
        return key
    }

    /// A certificate row reserved (`pending`) as the issuance core reserves one before it asks the signer.
    func reservePending(issuerID: String, csr: CSRFixture) async throws -> UUID {
        let parsed = try CertificateSigningRequest(derEncoded: csr.der)
        let outcome = try await CertificateRecordStore(client: client, logger: TestEnvironment.logger).reserve(CertificateReservation(
            issuerID: issuerID, issuerGeneration: 1, serialHex: "7f" + Hex.random(octets: 19), profileID: "default",
            subject: csr.subject, subjectDER: try ReservationFields.subjectDER(parsed.subject),
            spkiSHA256: try ReservationFields.spkiSHA256(parsed.publicKey),
            subjectAltNames: csr.sanTexts, notBefore: Date(), notAfter: Date().addingTimeInterval(86_400),
            csrDER: csr.der, requestedBy: "tests", source: "api", idempotencyKey: nil, requestFingerprint: nil))
        guard case .reserved(let id, _) = outcome else { throw ReservationFailed() }
        return id
    }

    struct ReservationFailed: Error {}

    /// A SCEP or EST request held for approval, stored as certctl-enroll stores it.
    func holdRequest(endpoint: String, issuerID: String, profileID: String = "default", csr: CSRFixture,
                     requester: String = "est:device") async throws -> EnrollmentRequestRecord {
        let record = EnrollmentRequestRecord(
            protocolName: "est", endpoint: endpoint, operation: "simpleenroll", issuerID: issuerID, profileID: profileID,
            validityDays: nil, transactionID: nil, senderNonce: nil, csrDER: csr.der, csrSHA256: Array(SHA256.hash(data: csr.der)),
            subject: csr.subject, subjectAltNames: csr.sanTexts, requester: requester, requesterCertificateDER: nil,
            remote: "192.0.2.7")
        let created = try await EnrollmentRequestStore(client: client, logger: TestEnvironment.logger).create(record, audit: AuditRecord(
            service: "enroll", actor: requester, action: "enrollment_request.create", outcome: .success))
        return created.record
    }
}

/// A certificate signing request made in-process (swift-certificates).
struct CSRFixture {
    let pem: String
    let der: [UInt8]
    let subject: String
    let sanTexts: [String]

    /// CN=`commonName` with DNS SANs `dnsNames` (default: the common name) and a P-256 key unless another
    /// is given; with `badSignature` the signature is over other bytes (the DER stays well-formed).
    init(_ commonName: String, dnsNames: [String]? = nil, otherNames: [GeneralName] = [],
         key: Certificate.PrivateKey = Certificate.PrivateKey(P256.Signing.PrivateKey()), badSignature: Bool = false) throws {
        let names = (dnsNames ?? [commonName]).map { GeneralName.dnsName($0) } + otherNames
        let subjectName = try DistinguishedName { CommonName(commonName) }
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            attributes.insert(try CertificateSigningRequest.Attribute(
                ExtensionRequest(extensions: try Certificate.Extensions { SubjectAlternativeNames(names) })))
        }
        var request = try CertificateSigningRequest(version: .v1, subject: subjectName, privateKey: key, attributes: attributes)
        if badSignature {
            request = try CertificateSigningRequest(
                version: .v1, subject: subjectName, publicKey: key.publicKey, attributes: attributes,
                signatureAlgorithm: request.signatureAlgorithm,
                signature: try key.sign(bytes: Array("not the request".utf8), signatureAlgorithm: request.signatureAlgorithm))
        }
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        der = serializer.serializedBytes
        pem = try request.serializeAsPEM().pemString
        subject = subjectName.description
        sanTexts = names.map(GeneralNameText.describe)
    }
}
