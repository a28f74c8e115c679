import CertctlIssuance
import CertctlStore
import Foundation
import CertctlRuntime
import Hummingbird

/// An error the admin API returns as `{"error": code, "message": text}` (plus `"incident": id` for a failure
/// of the server, whose details are only in the log).
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let incident: String?
    /// `Allow` of a 405.
    let allow: [String]
    /// `Retry-After` seconds of a 503 that a retry soon may cure.
    let retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, incident: String? = nil, allow: [String] = [],
         retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.incident = incident
        self.allow = allow
        self.retryAfter = retryAfter
    }

    /// How long a client should wait after `signer_unavailable`: a restarting signer is
    /// ready within about a second, and issuance notices within the gRPC backoff (1 s).
    static let signerRetryAfter = 5

    static func signerUnavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "signer_unavailable", message, retryAfter: signerRetryAfter)
    }

    /// The generic answer to a failure of the server: `503 database_unavailable` or `500 internal_error`, with its id.
    init(_ incident: Incident) {
        self.init(HTTPResponse.Status(code: incident.status), incident.code, incident.message, incident: incident.id)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = ["error": code, "message": message]
        if let incident { fields["incident"] = incident }
        let body = try JSONEncoder().encode(fields)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        // RFC 9110 15.5.2: a 401 names the scheme that would work
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: IssuanceError) -> APIError {
        switch error {
        case .issuerNotFound, .profileNotFound, .certificateNotFound:
            return APIError(.notFound, error.code, error.description)
        case .notRevocable, .idempotencyConflict:
            return APIError(.conflict, error.code, error.description)
        case .signerUnavailable:
            return .signerUnavailable(error.description)
        case .signerRefused:
            return APIError(.badGateway, "signer_refused", error.description)
        case .databaseReadOnly:
            return APIError(.serviceUnavailable, error.code, error.description)
        default:
            return APIError(.badRequest, error.code, error.description)
        }
    }

    static let unauthenticated = APIError(.unauthorized, "unauthenticated", "send Authorization: Bearer <api key>")
    static func forbidden(_ principal: Principal) -> APIError {
        APIError(.forbidden, "forbidden", "role \(principal.role.rawValue) may not do this")
    }
}
