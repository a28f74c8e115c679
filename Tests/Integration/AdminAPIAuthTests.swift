import CertctlConfig
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// Authentication and roles of every admin API operation, taken from the API's own description
/// (`x-certctl-roles` of each operation in openapi.yaml), so the document and the routes cannot drift apart.
@Suite("Admin API: authentication and roles", .serialized, .timeLimit(.minutes(3)))
struct AdminAPIAuthTests {
    /// An operation of docs/api/openapi.yaml and the roles it names.
    struct Operation: CustomStringConvertible {
        let method: HTTPRequest.Method
        let template: String
        let roles: Set<APIRole>
        var key: String { "\(method) \(template)" }
        var description: String { key }
    }

    static var documentPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/api/openapi.yaml").path
    }

    /// Each path's operations with their `x-certctl-roles` (the document is regular YAML: paths at indent 2,
    /// methods at 4, the roles line at 6).
    static func operations() throws -> [Operation] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        var operations: [Operation] = []
        var path: String?
        var method: HTTPRequest.Method?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
                method = nil
            } else if !line.hasPrefix(" "), !line.isEmpty {
                path = nil
            } else if path != nil, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
                      let verb = ["get": HTTPRequest.Method.get, "post": .post, "put": .put, "delete": .delete, "patch": .patch][
                        line.trimmingCharacters(in: .whitespaces).dropLast().lowercased()] {
                method = verb
            } else if let path, let method, line.hasPrefix("      x-certctl-roles:") {
                let list = line.split(separator: "[", maxSplits: 1).last.map { $0.dropLast() } ?? ""
                let roles = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                operations.append(Operation(method: method, template: path, roles: Set(roles.compactMap(APIRole.init(rawValue:)))))
                #expect(roles.allSatisfy { APIRole(rawValue: $0) != nil }, "\(method) \(path): unknown role in \(roles)")
            }
        }
        return operations
    }

    /// Objects every path parameter names, so an allowed role's read answers 200.
    struct Fixtures {
        let certificateID: String
        let requestID: String
        let apiKeyID: String

        /// `template` with its parameter filled in: an existing object, or (`missing`) one that does not exist.
        func path(_ template: String, missing: Bool = false) -> String {
            let resource = template.split(separator: "/").dropFirst(2).first ?? ""
            let value = switch resource {
            case "certificates": missing ? UUID().uuidString.lowercased() : certificateID
            case "enrollment": missing ? UUID().uuidString.lowercased() : requestID
            case "issuers": missing ? "nope" : "iss-a"
            case "profiles": missing ? "nope" : "default"
            case "scep": missing ? "nope" : "devices"
            case "est": missing ? "nope" : "lab"
            case "admin": missing ? "nope" : "clients"
            case "api-keys": missing ? UUID().uuidString.lowercased() : apiKeyID
            default: "unknown-resource-\(resource)"
            }
            return template.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") && $0.hasSuffix("}") ? value : String($0) }.joined(separator: "/")
        }
    }

    /// The state-changing operations that take no body.
    static let bodiless: Set<String> = [
        "DELETE /api/v1/scep/profiles/{name}", "POST /api/v1/admin/trust-anchors/{name}/reload",
        "POST /api/v1/enrollment/requests/{id}/approve", "POST /api/v1/api-keys/{id}/revoke", "POST /api/v1/api-keys/{id}/rotate",
        "DELETE /api/v1/profiles/{id}",
    ]

    /// Operations whose refusal of a role is itself audited (so it changes audit_events): export, per its issue.
    static let auditedRefusals: Set<String> = ["GET /api/v1/certificates/{id}/export"]

    /// Reads that answer other than 200 on the fixtures although the role may call them: the fixture
    /// certificate is pending, so it has no DER to export.
    static let readStatus: [String: HTTPResponse.Status] = ["GET /api/v1/certificates/{id}/export": .conflict]

    /// A body that the operation would carry out for a role allowed to call it.
    static func validBody(_ operation: Operation, csrPEM: String) -> [String: Any]? {
        switch operation.key {
        case "POST /api/v1/certificates": ["csr_pem": csrPEM, "issuer_id": "iss-a"]
        case "POST /api/v1/certificates/{id}/revoke": ["reason": "superseded"]
        case "POST /api/v1/certificates/revocations": ["reason": "superseded", "items": [["id": UUID().uuidString]]]
        case "POST /api/v1/api-keys": ["actor": "someone", "role": "auditor"]
        case "POST /api/v1/profiles": ["id": "web", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30]
        case "PUT /api/v1/profiles/{id}": ["allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30]
        case "POST /api/v1/scep/profiles": ["name": "other", "issuer_id": "iss-a", "ra_cert_path": "/ra.crt", "ra_key_path": "/ra.key"]
        case "POST /api/v1/scep/{profile}/challenges": ["ttl_seconds": 600]
        case "POST /api/v1/est/labels": ["name": "other", "issuer_id": "iss-a"]
        case "POST /api/v1/est/labels/{name}/users": ["username": "alice"]
        case "POST /api/v1/admin/trust-anchors": ["name": "other", "path": "/etc/other.pem"]
        case "POST /api/v1/enrollment/requests/{id}/reject": ["reason": "not ours"]
        case "PATCH /api/v1/scep/profiles/{name}", "PATCH /api/v1/est/labels/{name}": ["accept_renewals_from": ["est:lab"]]
        case "POST /api/v1/issuers": ["id": "iss-b", "subject": "/CN=B"]
        case "POST /api/v1/issuers/{id}/rotations": ["cross_certificate": false]
        case "POST /api/v1/issuers/{id}/generations/{generation}/certificate": ["certificate_pem": "-----BEGIN CERTIFICATE-----"]
        default: nil
        }
    }

    /// Every object the operations name: issuer iss-a, a reserved certificate, SCEP profile devices,
    /// EST label lab, trust anchor clients and a request held for approval.
    func fixtures(_ stack: AdminAPIStack) async throws -> Fixtures {
        try await stack.addIssuer("iss-a")
        let csr = try CSRFixture("held.example.com")
        let certificateID = try await stack.reservePending(issuerID: "iss-a", csr: csr)
        for (path, body) in [
            ("/api/v1/admin/trust-anchors", ["name": "clients", "path": "/etc/clients.pem"] as [String: Any]),
            ("/api/v1/scep/profiles", ["name": "devices", "issuer_id": "iss-a", "ra_cert_path": "/ra.crt", "ra_key_path": "/ra.key"]),
            ("/api/v1/est/labels", ["name": "lab", "issuer_id": "iss-a"]),
        ] {
            let created = try await stack.call(.post, path, .json(body))
            try #require(created.status == .created, "\(path): \(created.text)")
        }
        let held = try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: csr)
        _ = try await stack.addKey(.auditor, actor: "fixture-key")
        let keyID = try #require(try await APIKeyStore(client: stack.client, logger: TestEnvironment.logger)
            .list(includeRevoked: false).first { $0.actor == "fixture-key" }?.id)
        return Fixtures(certificateID: certificateID.uuidString.lowercased(), requestID: held.id.uuidString.lowercased(),
                        apiKeyID: keyID.uuidString.lowercased())
    }

    @Test("the API description lists roles for every operation, and only GET /api/v1/openapi.yaml needs no key")
    func everyOperationHasRoles() throws {
        let operations = try Self.operations()
        #expect(operations.count >= 20, "\(operations.count) operations read from \(Self.documentPath)")
        #expect(operations.filter(\.roles.isEmpty).map(\.key) == ["GET /api/v1/openapi.yaml"])
        #expect(operations.allSatisfy { $0.roles.isEmpty || $0.roles.contains(.admin) }, "admin may do everything")
    }

    @Test("GET /api/v1/openapi.yaml answers without a key with docs/api/openapi.yaml, as application/yaml")
    func openAPIDocument() async throws {
        try await AdminAPIStack.run { stack in
            let reply = try await stack.call(.get, "/api/v1/openapi.yaml", auth: .none)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/yaml")
            #expect(reply.text == (try String(contentsOfFile: Self.documentPath, encoding: .utf8)),
                    "the served document is the one in docs/api")
        }
    }

    @Test("a path that no operation serves is 404 not_found; a method its path does not serve is 405 method_not_allowed with Allow (JSON, with a key or without)")
    func unknownRoutes() async throws {
        try await AdminAPIStack.run { stack in
            for (method, path) in [(HTTPRequest.Method.get, "/api/v1/nope"), (.get, "/api/v1/profiles/default/extra"), (.post, "/api/v2/profiles")] {
                for auth in [APIAuth.role(.admin), .none] {
                    try await stack.expectRefused(.notFound, "not_found", method, path, auth: auth)
                }
            }
            // Allow lists what docs/api/openapi.yaml declares for the path; a literal path beats a parameter
            for (method, path, allow) in [(HTTPRequest.Method.delete, "/api/v1/issuers/iss-a", "GET"), (.put, "/api/v1/certificates", "POST, GET"),
                                          (.patch, "/api/v1/issuers/iss-a", "GET"), (.put, "/api/v1/certificates/revocations", "POST"),
                                          (.options, "/api/v1/profiles/default", "GET, PUT, DELETE")] {
                for auth in [APIAuth.role(.admin), .none] {
                    let reply = try await stack.expectRefused(.methodNotAllowed, "method_not_allowed", method, path, auth: auth)
                    #expect(reply.headers[.allow] == allow, "\(method) \(path)")
                }
            }
        }
    }

    @Test("without a usable key every operation answers 401 unauthenticated (JSON, WWW-Authenticate: Bearer) and changes nothing: no header, another scheme, an empty or unknown key, a revoked or an expired key")
    func unauthenticated() async throws {
        try await AdminAPIStack.run { stack in
            let fixtures = try await fixtures(stack)
            let csr = try CSRFixture("app.example.com")
            let revoked = try await stack.addKey(.admin, actor: "revoked-admin")
            let expired = try await stack.addKey(.admin, actor: "expired-admin")
            try await TestEnvironment.execute("UPDATE api_keys SET revoked_at = now() WHERE actor = 'revoked-admin'", stack.url)
            try await TestEnvironment.execute(
                "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE actor = 'expired-admin'", stack.url)
            let credentials: [(String, APIAuth)] = [
                ("no Authorization", .none), ("Basic scheme", .header("Basic \(Data("admin:x".utf8).base64EncodedString())")),
                ("empty Bearer", .header("Bearer ")), ("unknown key", .key(APIKeyStore.generate())),
                ("the admin key's hash as the key", .key(Hex.string(APIKeyStore.hash(stack.keys[.admin]!)))),
                ("revoked key", .key(revoked)), ("expired key", .key(expired)),
            ]
            let operations = try Self.operations().filter { !$0.roles.isEmpty }
            try #require(!operations.isEmpty)
            try await stack.expectUnchanged("unauthenticated requests") {
                for operation in operations {
                    let body = Self.validBody(operation, csrPEM: csr.pem).map(APIBody.json)
                    for (what, auth) in credentials {
                        let reply = try await stack.call(operation.method, fixtures.path(operation.template), body, auth: auth)
                        reply.expectError(.unauthorized, "unauthenticated", "\(operation) with \(what)")
                        #expect(reply.headers[.wwwAuthenticate] == "Bearer", "\(operation) with \(what): RFC 9110 15.5.2")
                    }
                }
            }
            // the scheme is case-insensitive (RFC 9110 11.1)
            for scheme in ["bearer", "BEARER", "Bearer"] {
                let reply = try await stack.call(.get, "/api/v1/profiles", auth: .header("\(scheme) \(stack.keys[.auditor]!)"))
                #expect(reply.status == .ok, "\(scheme): \(reply.text)")
            }
            // the same key works while it has not expired
            let later = try await stack.addKey(.auditor, actor: "expiring-auditor")
            try await TestEnvironment.execute(
                "UPDATE api_keys SET expires_at = now() + interval '1 hour' WHERE actor = 'expiring-auditor'", stack.url)
            #expect(try await stack.call(.get, "/api/v1/profiles", auth: .key(later)).status == .ok)
        }
    }

    @Test("each role may call exactly the operations whose x-certctl-roles name it: 403 forbidden (JSON, nothing changed) for the others, though the request would succeed")
    func roles() async throws {
        try await AdminAPIStack.run { stack in
            let fixtures = try await fixtures(stack)
            let csr = try CSRFixture("app.example.com")
            let operations = try Self.operations().filter { !$0.roles.isEmpty }
            for operation in operations where operation.method != .get {
                #expect(Self.validBody(operation, csrPEM: csr.pem) != nil || Self.bodiless.contains(operation.key),
                        "\(operation): this test knows no body for it")
            }
            for role in APIRole.allCases {
                for operation in operations where !operation.roles.contains(role) {
                    let body = Self.validBody(operation, csrPEM: csr.pem).map(APIBody.json)
                    let reply = Self.auditedRefusals.contains(operation.key)
                        ? try await stack.call(operation.method, fixtures.path(operation.template), body, auth: .role(role))
                        : try await stack.expectRefused(.forbidden, "forbidden", operation.method,
                                                        fixtures.path(operation.template), body, auth: .role(role))
                    reply.expectError(.forbidden, "forbidden", "\(operation) as \(role)")
                    #expect((reply["message"] as? String)?.contains(role.rawValue) == true, "\(operation) as \(role): \(reply.text)")
                }
            }
        }
    }

    @Test("a role an operation names gets past authorisation: reads answer 200, and writes with an empty body or an unknown target answer 400 or 404 and change nothing")
    func allowedRoles() async throws {
        try await AdminAPIStack.run { stack in
            let fixtures = try await fixtures(stack)
            let operations = try Self.operations().filter { !$0.roles.isEmpty }
            for role in APIRole.allCases {
                for operation in operations where operation.roles.contains(role) {
                    let what = "\(operation) as \(role)"
                    if operation.method == .get {
                        let reply = try await stack.call(.get, fixtures.path(operation.template), auth: .role(role))
                        #expect(reply.status == Self.readStatus[operation.key] ?? .ok, "\(what): \(reply.text)")
                        continue
                    }
                    try await stack.expectUnchanged(what) {
                        let hasBody = !Self.bodiless.contains(operation.key)
                        // a body route gets a body it refuses (every field of a challenge is optional: a bad ttl);
                        // the others an unknown target
                        let probe: [String: Any] = operation.template.hasSuffix("/challenges") ? ["ttl_seconds": 1]
                            : operation.template.hasSuffix("/rotations") ? ["validity_days": 0] : [:]
                        let reply = hasBody
                            ? try await stack.call(operation.method, fixtures.path(operation.template), .json(probe), auth: .role(role))
                            : try await stack.call(operation.method, fixtures.path(operation.template, missing: true), auth: .role(role))
                        #expect(reply.status == (hasBody ? .badRequest : .notFound), "\(what): \(reply.text)")
                        #expect(reply.error != nil && reply.error != "forbidden", "\(what): \(reply.text)")
                    }
                }
            }
        }
    }
}
