import Hummingbird

/// Checks of every /api/v1 request that belong to no single route.
struct APIRequestChecks: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Postgres text cannot hold U+0000: a filter holding it would end in a database error (a 500).
        if request.uri.queryParameters.contains(where: { $0.value.contains("\u{0}") }) {
            throw APIError(.badRequest, "invalid_request", "query parameters must not contain U+0000")
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // Hummingbird's own answer when no route serves the path and method: typed, like every API error.
            throw APIError(.notFound, "not_found", "no route serves \(request.method) \(request.uri.path)")
        }
    }
}
