import CertctlIssuance
import CertctlStore
import Foundation
import Hummingbird

/// Shared request plumbing: authentication, JSON bodies with a size cap, JSON responses.
struct APISupport: Sendable {
    static let maxBodyBytes = 64 * 1024

    let keys: APIKeyStore

    /// The caller, who must hold one of `roles`.
    func require(_ request: Request, _ roles: Set<APIRole>) async throws -> Principal {
        // the scheme is case-insensitive (RFC 9110 11.1)
        guard let header = request.headers[.authorization], header.prefix(7).lowercased() == "bearer ",
              case let key = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), !key.isEmpty
        else { throw APIError.unauthenticated }
        // A database failure here reaches APIRequestChecks, which answers 503 database_unavailable with an
        // incident id: its text never goes to a caller who is not even authenticated yet.
        let principal = try await keys.authenticate(key)
        guard let principal else { throw APIError.unauthenticated }
        guard roles.contains(principal.role) else { throw APIError.forbidden(principal) }
        return principal
    }

    /// Decodes a JSON body of at most 64 KiB; 415 for another content type, 413 when larger.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send the body as application/json")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw APIError(.contentTooLarge, "body_too_large", "request bodies are limited to \(maxBodyBytes) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "request bodies are limited to \(maxBodyBytes) bytes")
        }
        // Postgres text cannot hold U+0000: a value holding it would end in a database error (a 500).
        if containsEscapedNUL(buffer) {
            throw APIError(.badRequest, "invalid_request", "text values must not contain U+0000")
        }
        let data = Data(buffer: buffer)
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, body: data)
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not valid JSON")
        }
    }

    /// Whether a JSON text holds the escape \u0000 in a string (not an escaped backslash followed by "u0000").
    static func containsEscapedNUL(_ buffer: ByteBuffer) -> Bool {
        let bytes = Array(buffer.readableBytesView)
        var index = 0
        while index + 1 < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            if bytes[index + 1] == UInt8(ascii: "u"), index + 6 <= bytes.count,
               bytes[(index + 2)..<(index + 6)].allSatisfy({ $0 == UInt8(ascii: "0") }) {
                return true
            }
            index += 2  // the escaped character, whatever it is, is not the start of another escape
        }
        return false
    }

    /// What was wrong with a body that did not decode: `invalid_json` only when it is not JSON at all.
    static func describe(_ error: DecodingError, body: Data) -> APIError {
        func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }
        func field(_ context: DecodingError.Context) -> String { context.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, _):
            return invalid("field \(key.stringValue) is required")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return invalid(context.codingPath.isEmpty ? "the body must be a JSON object" : "field \(field(context)) has the wrong type")
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return invalid("field \(field(context)): \(context.debugDescription)")
        default:
            // Foundation reports some values of the wrong form (1.5 for an integer, a date that is not
            // RFC 3339) without their field, as if the body were not JSON.
            if (try? JSONSerialization.jsonObject(with: body, options: .fragmentsAllowed)) != nil {
                return invalid("a value has the wrong form (an integer field holds a fraction, or a timestamp is not RFC 3339)")
            }
            return APIError(.badRequest, "invalid_json", "the body is not valid JSON")
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Whether all of `text` matches `pattern`. `range(of:options:.regularExpression)` alone is not enough:
    /// its `$` also matches before a final newline, which the database's CHECK then refuses (a 500).
    static func matches(_ text: String, _ pattern: String) -> Bool {
        text.range(of: pattern, options: .regularExpression) == text.startIndex..<text.endIndex
    }

    /// An issuer id of the form the database's issuer_id domain has; any other names no issuer (and would break
    /// the domain's CHECK on insert, a 500), so it is refused like an unknown one.
    static func requireIssuerIDForm(_ id: String) throws {
        guard matches(id, "^[a-z0-9][a-z0-9-]{0,62}$") else {
            throw APIError(.unprocessableContent, "invalid_reference", "issuer \(id) does not exist (issuer ids match ^[a-z0-9][a-z0-9-]{0,62}$)")
        }
    }

    /// An RFC 5280 reason name, or 400 invalid_reason listing them.
    static func revocationReason(_ name: String) throws -> RevocationReason {
        guard let reason = RevocationReason(name: name) else {
            throw APIError(.badRequest, "invalid_reason",
                           "reason must be one of \(RevocationReason.allCases.map(\.name).joined(separator: ", "))")
        }
        return reason
    }

    /// A boolean query parameter: `true` or `false` (default false); any other value is 400 invalid_request.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let text = request.uri.queryParameters[Substring(name)] else { return false }
        switch text {
        case "true": return true
        case "false": return false
        default: throw APIError(.badRequest, "invalid_request", "\(name) must be true or false")
        }
    }

    /// `limit` query parameter: 1–500, default 100.
    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["limit"] else { return 100 }
        guard let value = Int(String(text)), (1...500).contains(value) else {
            throw APIError(.badRequest, "invalid_request", "limit must be an integer from 1 to 500")
        }
        return value
    }
}
