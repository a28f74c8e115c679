import CertctlPKI
import CertctlRuntime
import Foundation
import Hummingbird
import Metrics
import HTTPTypes
import NIOCore

/// HTTP bindings (RFC 6960 Appendix A, RFC 5019):
///   POST /.well-known/pki/ocsp/{issuer_id}                 body: DER OCSPRequest (≤ 10 KiB)
///   GET  /.well-known/pki/ocsp/{issuer_id}/{base64 request} URL-encoded base64 DER
///   GET  /.well-known/pki/ocsp/{issuer_id}/{serial_hex}     certctl convenience (SHA-1 CertID)
///
/// This is the hot path (docs/benchmarks.md "OCSP vs its HTTP stack"): paths are
/// read as bytes, a cached answer's body and header fields are reused as they are.
struct OCSPRoutes: Sendable {
    static let prefix = "/.well-known/pki/ocsp/"
    static let maximumBody = 10 * 1024
    static let contentType = "application/ocsp-response"
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    let core: OCSPResponderCore
    let limiter: RateLimiter
    let clients: ClientAddress

    func add(to router: Router<PeerRequestContext>) {
        // One wildcard route per method: the router refuses `:issuer` beside `**`.
        router.post("/.well-known/pki/ocsp/**") { request, context in
            try await handle(request, context) { request in
                let issuer = Self.postIssuer(request.uri.path)
                let body: ByteBuffer
                do {
                    body = try await request.body.collect(upTo: Self.maximumBody)
                } catch {
                    Metric.outcome(.oversized)
                    return (OCSPAnswer(body: OCSPResponse.error(.malformedRequest), status: .malformedRequest),
                            .contentTooLarge)
                }
                return (await core.answer(issuerID: issuer, der: Array(buffer: body)), .ok)
            }
        }
        router.get("/.well-known/pki/ocsp/**") { request, context in
            try await handle(request, context) { request in
                guard let (issuer, rest) = Self.split(request.uri.path) else {
                    return (OCSPAnswer.error(.malformedRequest), .ok)
                }
                if Self.isSerial(rest) {
                    return (await core.answer(issuerID: issuer, serialText: String(rest)), .ok)
                }
                guard let der = Base64Path.decode(rest) else { return (OCSPAnswer.error(.malformedRequest), .ok) }
                return (await core.answer(issuerID: issuer, der: der), .ok)
            }
        }
    }

    /// Rate limit, answer, time it, encode headers.
    private func handle(
        _ request: Request, _ context: PeerRequestContext,
        _ body: (Request) async throws -> (OCSPAnswer, HTTPResponse.Status)
    ) async throws -> Response {
        let started = ContinuousClock.now
        defer {
            let elapsed = started.duration(to: .now)
            (request.method == .get ? Metric.getDuration : Metric.postDuration)
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        if limiter.limit > 0, let retryAfter = limiter.check(source(request, context)) {
            Metric.outcome(.rateLimited)
            var response = Self.response(OCSPResponse.error(.tryLater), status: .ok, noCache: true)
            response.headers[.retryAfter] = "\(retryAfter)"
            return response
        }
        let (answer, status) = try await body(request)
        guard let prepared = answer.prepared else {
            return Self.response(answer.body, status: status, noCache: true)
        }
        var headers = prepared.headerFields(now: Date())
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == prepared.etag || tag == "*"
        }) {
            headers[.contentLength] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: prepared.buffer))
    }

    /// The rate-limit source: the TCP peer's address as it is, unless an
    /// X-Forwarded-For header makes the (string) proxy rules apply.
    private func source(_ request: Request, _ context: PeerRequestContext) -> RateLimiter.Source {
        let forwarded = request.headers[values: Self.forwardedFor]
        guard !forwarded.isEmpty else { return limiter.source(peer: context.remoteAddress) }
        return limiter.source(clients.resolve(peer: context.remoteAddress?.ipAddress, forwardedFor: forwarded))
    }

    static func response(_ body: [UInt8], status: HTTPResponse.Status, noCache: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        if noCache { headers[.cacheControl] = "no-cache" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The issuer id of a POST path: its first segment after the prefix ("" if none).
    static func postIssuer(_ path: String) -> String {
        var rest = Substring(path).utf8.dropFirst(prefix.utf8.count)
        while rest.first == UInt8(ascii: "/") { rest = rest.dropFirst() }
        return String(Substring(rest.prefix { $0 != UInt8(ascii: "/") }))
    }

    /// Issuer id and the rest of a raw (still percent-encoded) GET path,
    /// tolerating repeated slashes around the issuer.
    static func split(_ path: String) -> (String, Substring)? {
        guard path.hasPrefix(prefix) else { return nil }
        var rest = Substring(path).utf8.dropFirst(prefix.utf8.count)
        while rest.first == UInt8(ascii: "/") { rest = rest.dropFirst() }
        guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let issuer = String(Substring(rest[..<slash]))
        var tail = rest[rest.index(after: slash)...]
        while tail.first == UInt8(ascii: "/") { tail = tail.dropFirst() }
        guard !issuer.isEmpty, !tail.isEmpty else { return nil }
        return (issuer, Substring(tail))
    }

    /// A serial (hex, optional colons) rather than base64: base64 of a DER SEQUENCE starts with "M".
    static func isSerial(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 60 && text.utf8.allSatisfy {
            switch $0 {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                 UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: ":"): return true
            default: return false
            }
        }
    }
}

/// Metric handles the hot path reuses instead of looking them up per request.
enum Metric {
    enum Outcome: Int, CaseIterable {
        case good, revoked, unknown, multiple, malformed, oversized, unauthorized, rateLimited, tryLater, internalError,
             sigRequired, successful

        var label: String {
            switch self {
            case .rateLimited: return "rate_limited"
            case .tryLater: return "try_later"
            case .internalError: return "internal_error"
            case .sigRequired: return "sig_required"
            default: return "\(self)"
            }
        }

        /// good, revoked, unknown or multiple (a PreparedResponse's status).
        init(status: String) {
            switch status {
            case "good": self = .good
            case "revoked": self = .revoked
            case "unknown": self = .unknown
            default: self = .multiple
            }
        }
    }

    enum Source: Int, CaseIterable {
        case memory, database, liveSigned, memoryDatabaseDown

        var label: String {
            switch self {
            case .memory: return "memory"
            case .database: return "database"
            case .liveSigned: return "live_signed"
            case .memoryDatabaseDown: return "memory_database_down"
            }
        }
    }

    static let getDuration = Timer(label: "certctl_ocsp_request_duration_seconds", dimensions: [("method", "GET")])
    static let postDuration = Timer(label: "certctl_ocsp_request_duration_seconds", dimensions: [("method", "POST")])
    static let outcomes = Outcome.allCases.map { Counter(label: "certctl_ocsp_responses_total", dimensions: [("outcome", $0.label)]) }
    static let sources = Source.allCases.map { Counter(label: "certctl_ocsp_response_source_total", dimensions: [("source", $0.label)]) }
    static let responseAge = Recorder(label: "certctl_ocsp_response_age_seconds")

    static func outcome(_ outcome: Outcome) { outcomes[outcome.rawValue].increment() }
    static func source(_ source: Source) { sources[source.rawValue].increment() }
}
