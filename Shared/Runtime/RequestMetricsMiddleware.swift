import Dispatch
import Hummingbird
import Metrics
import Synchronization

/// Per-request metrics under the names and dimensions of Hummingbird's
/// `MetricsMiddleware` (`hb_requests`, `hb_request_errors`,
/// `http_server_request_duration_seconds`, `http_server_active_requests`), at a
/// fraction of its cost: Hummingbird's wraps every response body in a post-write
/// closure, which turns a one-buffer response into three channel writes (head,
/// body, end), each its own event-loop hop and flush (docs/benchmarks.md "OCSP
/// vs its HTTP stack"). Here a body of known length (one buffer, the usual case)
/// is recorded when the handler returns it, and only a streamed body of unknown
/// length is wrapped, to be timed when its last byte is written.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache = RequestMetricsCache()

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let active = cache.active(request.method)
        active.increment()
        do {
            var response = try await next(request, context)
            let metrics = cache.endpoint(context.endpointPath ?? "Unknown", request.method, response.status)
            guard response.body.contentLength == nil else {
                metrics.record(since: started)
                active.decrement()
                return response
            }
            let body = response.body
            response.body = ResponseBody(contentLength: nil) { writer in
                defer {
                    metrics.record(since: started)
                    active.decrement()
                }
                try await body.write(writer)
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = cache.endpoint(context.endpointPath ?? "NotFound", request.method, status)
            metrics.counter.increment()
            metrics.errors.increment()
            active.decrement()
            throw error
        }
    }
}

/// The metric handles per method and per route, method and status, made once.
final class RequestMetricsCache: Sendable {
    struct Endpoint: Sendable {
        let counter: Counter
        let timer: Metrics.Timer
        let errors: Counter

        func record(since started: UInt64) {
            counter.increment()
            timer.recordNanoseconds(Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- started))
        }
    }

    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = Mutex<[Key: Endpoint]>([:])

    func active(_ method: HTTPRequest.Method) -> Meter {
        methods.withLock { methods in
            if let meter = methods[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)])
            methods[method] = meter
            return meter
        }
    }

    func endpoint(_ route: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) -> Endpoint {
        let key = Key(route: route, method: method, status: status.code)
        return endpoints.withLock { endpoints in
            if let known = endpoints[key] { return known }
            let dimensions = [("http.route", route), ("http.request.method", method.description),
                              ("http.response.status_code", status.code.description)]
            let made = Endpoint(
                counter: Counter(label: "hb.requests", dimensions: dimensions),
                timer: Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds),
                errors: Counter(label: "hb.request.errors", dimensions: [
                    ("http.route", route), ("http.request.method", method.description), ("error.type", status.code.description),
                ]))
            endpoints[key] = made
            return made
        }
    }
}
