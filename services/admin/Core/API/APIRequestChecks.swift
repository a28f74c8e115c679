import CertctlRuntime
import Hummingbird
import Logging

/// Checks of every /api/v1 request that belong to no single route, and the one place where an error no route
/// mapped becomes an answer: a generic typed error with an incident id, the details only in the log.
struct APIRequestChecks: RouterMiddleware {
    typealias Context = BasicRequestContext

    let routes: APIRouteTable
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Postgres text cannot hold U+0000: a filter holding it would end in a database error (a 500).
        if request.uri.queryParameters.contains(where: { $0.value.contains("\u{0}") }) {
            throw APIError(.badRequest, "invalid_request", "query parameters must not contain U+0000")
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // Hummingbird's own answer when no route serves the path and method: typed, like every API error.
            if let allowed = routes.allowedMethods(for: request.uri.path) {
                throw APIError(.methodNotAllowed, "method_not_allowed",
                               "\(request.uri.path) does not serve \(request.method); it serves \(allowed.joined(separator: ", "))",
                               allow: allowed)
            }
            throw APIError(.notFound, "not_found", "no route serves \(request.method) \(request.uri.path)")
        } catch let error as any HTTPResponseError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A database or internal failure no route turned into an API error (before: 500 with an empty body).
            throw APIError(Incident.record("admin API request failed", error: error, metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)",
            ], logger: logger))
        }
    }
}
