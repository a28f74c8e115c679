import CertctlStore
import Foundation
import HTTPTypes
import Testing

/// Bad request bodies on every route that reads one, and bad query parameters: each gets its typed 4xx and changes nothing.
@Suite("Admin API: request bodies and query parameters", .serialized, .timeLimit(.minutes(2)))
struct AdminAPIBodyTests {
    /// Every route that reads a JSON body, at an existing target, with a body it would carry out.
    struct BodyRoute: CustomStringConvertible {
        let method: HTTPRequest.Method
        let path: String
        let valid: [String: Any]
        /// A field it requires.
        let required: String
        var description: String { "\(method) \(path)" }
    }

    func routes(requestID: String) -> [BodyRoute] {
        let certificate = UUID().uuidString.lowercased()
        return [
            BodyRoute(method: .post, path: "/api/v1/certificates", valid: ["csr_pem": "-", "issuer_id": "iss-a"], required: "csr_pem"),
            BodyRoute(method: .post, path: "/api/v1/certificates/\(certificate)/revoke", valid: ["reason": "superseded"], required: "reason"),
            BodyRoute(method: .post, path: "/api/v1/profiles",
                      valid: ["id": "web", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30], required: "max_validity_days"),
            BodyRoute(method: .put, path: "/api/v1/profiles/default",
                      valid: ["allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30], required: "allowed_key_algorithms"),
            BodyRoute(method: .post, path: "/api/v1/scep/profiles",
                      valid: ["name": "other", "issuer_id": "iss-a", "ra_cert_path": "/ra.crt", "ra_key_path": "/ra.key"],
                      required: "ra_key_path"),
            BodyRoute(method: .post, path: "/api/v1/scep/devices/challenges", valid: ["ttl_seconds": 600], required: ""),
            BodyRoute(method: .post, path: "/api/v1/est/labels", valid: ["name": "other", "issuer_id": "iss-a"], required: "issuer_id"),
            BodyRoute(method: .post, path: "/api/v1/est/labels/lab/users", valid: ["username": "alice"], required: "username"),
            BodyRoute(method: .post, path: "/api/v1/admin/trust-anchors", valid: ["name": "other", "path": "/etc/other.pem"], required: "path"),
            BodyRoute(method: .post, path: "/api/v1/enrollment/requests/\(requestID)/reject", valid: ["reason": "no"], required: "reason"),
        ]
    }

    /// Issuer iss-a, SCEP endpoint devices, EST label lab and a held request; returns the request's id.
    func fixtures(_ stack: AdminAPIStack) async throws -> String {
        try await stack.addIssuer("iss-a")
        for (path, body) in [
            ("/api/v1/scep/profiles", ["name": "devices", "issuer_id": "iss-a", "ra_cert_path": "/ra.crt", "ra_key_path": "/ra.key"]),
            ("/api/v1/est/labels", ["name": "lab", "issuer_id": "iss-a"]),
        ] {
            try #require(try await stack.call(.post, path, .json(body)).status == .created)
        }
        return try await stack.holdRequest(endpoint: "lab", issuerID: "iss-a", csr: try CSRFixture("device-1")).id.uuidString.lowercased()
    }

    func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("a body that is not application/json is 415 unsupported_media_type, whatever it holds")
    func contentType() async throws {
        try await AdminAPIStack.run { stack in
            for route in routes(requestID: try await fixtures(stack)) {
                let body = try json(route.valid)
                for contentType: String? in ["text/plain", "application/x-www-form-urlencoded", "application/xml", nil] {
                    try await stack.expectRefused(.unsupportedMediaType, "unsupported_media_type", route.method, route.path,
                                                  .raw(body, contentType: contentType))
                }
                // parameters and case do not matter
                let accepted = try await stack.call(route.method, route.path, .raw("{", contentType: "Application/JSON; charset=utf-8"))
                #expect(accepted.error == "invalid_json", "\(route): \(accepted.text)")
            }
        }
    }

    @Test("a body that is not JSON is 400 invalid_json; a JSON value that is not an object, or a field of the wrong type, is 400 invalid_request")
    func malformed() async throws {
        try await AdminAPIStack.run { stack in
            for route in routes(requestID: try await fixtures(stack)) {
                for text in ["", "{", "{\"reason\": }", "not json", String(try json(route.valid).dropLast())] {
                    try await stack.expectRefused(.badRequest, "invalid_json", route.method, route.path, .raw(text, contentType: "application/json"))
                }
                for text in ["[]", "42", "\"text\"", "null"] {
                    let reply = try await stack.expectRefused(.badRequest, "invalid_request", route.method, route.path,
                                                              .raw(text, contentType: "application/json"))
                    #expect(reply["message"] as? String == "the body must be a JSON object", "\(route) \(text): \(reply.text)")
                }
                if let (field, value) = route.valid.first(where: { $0.value is String }) {
                    var wrong = route.valid
                    wrong[field] = ["not": value]
                    let reply = try await stack.expectRefused(.badRequest, "invalid_request", route.method, route.path, .json(wrong))
                    #expect((reply["message"] as? String)?.contains(field) == true, "\(route): \(reply.text)")
                }
            }
        }
    }

    @Test("valid JSON holding a value of the wrong form that Foundation reports without its field (a fraction for an integer, a timestamp that is not RFC 3339) is 400 invalid_request, not invalid_json")
    func wrongForm() async throws {
        try await AdminAPIStack.run { stack in
            let bodies: [(HTTPRequest.Method, String, [String: Any])] = [
                (.post, "/api/v1/profiles", ["id": "web", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 1.5]),
                (.post, "/api/v1/scep/devices/challenges", ["ttl_seconds": 600.5]),
                (.post, "/api/v1/certificates/\(UUID())/revoke", ["reason": "superseded", "invalidity_date": "yesterday"]),
                (.post, "/api/v1/certificates/\(UUID())/revoke", ["reason": "superseded", "invalidity_date": "2025-01-01 10:00"]),
            ]
            for (method, path, body) in bodies {
                let reply = try await stack.expectRefused(.badRequest, "invalid_request", method, path, .json(body))
                #expect((reply["message"] as? String)?.contains("wrong form") == true, "\(path): \(reply.text)")
            }
        }
    }

    @Test("a text value holding U+0000 (which Postgres text cannot store) is 400 invalid_request on every body route; an escaped backslash before u0000 is ordinary text")
    func nulInBody() async throws {
        try await AdminAPIStack.run { stack in
            for route in routes(requestID: try await fixtures(stack)) {
                var body = route.valid.mapValues { value -> Any in (value as? String).map { $0 + "\u{0}" } ?? value }
                // text a route stores without checking it further
                if route.path.hasSuffix("/challenges") { body["expected_subject"] = "CN=device\u{0}" }
                if route.path.hasPrefix("/api/v1/profiles") { body["description"] = "web\u{0}servers" }
                try await stack.expectRefused(.badRequest, "invalid_request", route.method, route.path, .json(body))
            }
            let literal = try await stack.call(.post, "/api/v1/profiles", .json([
                "id": "web", "description": #"C:\u0000"#, "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 3,
            ]))
            #expect(literal.status == .created, "\(literal.text)")
            #expect(literal["description"] as? String == #"C:\u0000"#)
        }
    }

    @Test("a query parameter holding U+0000 is 400 invalid_request on every listing")
    func nulInQuery() async throws {
        try await AdminAPIStack.run { stack in
            for path in ["/api/v1/audit?target_id=%00", "/api/v1/audit?action=a%00", "/api/v1/certificates?q=%00",
                         "/api/v1/certificates?issuer_id=iss%00", "/api/v1/enrollment/requests?endpoint=%00"] {
                try await stack.expectRefused(.badRequest, "invalid_request", .get, path)
            }
        }
    }

    @Test("a required field left out is 400 invalid_request naming it")
    func missingField() async throws {
        try await AdminAPIStack.run { stack in
            for route in routes(requestID: try await fixtures(stack)) where !route.required.isEmpty {
                var body = route.valid
                body[route.required] = nil
                let reply = try await stack.expectRefused(.badRequest, "invalid_request", route.method, route.path, .json(body))
                #expect(reply["message"] as? String == "field \(route.required) is required", "\(route): \(reply.text)")
            }
        }
    }

    @Test("a body over 64 KiB is 413 body_too_large on every route; exactly 64 KiB is read")
    func size() async throws {
        try await AdminAPIStack.run { stack in
            let limit = 64 * 1024
            for route in routes(requestID: try await fixtures(stack)) {
                let body = try json(route.valid)
                let padded = body + String(repeating: " ", count: limit + 1 - body.utf8.count)
                try await stack.expectRefused(.contentTooLarge, "body_too_large", route.method, route.path,
                                              .raw(padded, contentType: "application/json"))
            }
            // the largest body accepted: a profile padded with whitespace to exactly the limit
            let body = try json(["id": "big", "allowed_key_algorithms": ["ecdsa-p256"], "max_validity_days": 30])
            let exact = body + String(repeating: " ", count: limit - body.utf8.count)
            let reply = try await stack.call(.post, "/api/v1/profiles", .raw(exact, contentType: "application/json"))
            #expect(reply.status == .created, "\(reply.text)")
        }
    }
}
