import CertctlIssuance
import CertctlStore
import Foundation
import Hummingbird

/// An error the admin API returns as `{"error": code, "message": text}`.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(["error": code, "message": message])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        // RFC 9110 15.5.2: a 401 names the scheme that would work
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: IssuanceError) -> APIError {
        switch error {
        case .issuerNotFound, .profileNotFound, .certificateNotFound:
            return APIError(.notFound, error.code, error.description)
        case .notRevocable, .idempotencyConflict:
            return APIError(.conflict, error.code, error.description)
        case .signerUnavailable:
            return APIError(.badGateway, error.code, error.description)
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
