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
struct OCSPRoutes: Sendable {
    static let prefix = "/.well-known/pki/ocsp/"
    static let maximumBody = 10 * 1024
    static let contentType = "application/ocsp-response"

    let core: OCSPResponderCore
    let limiter: RateLimiter
    let clients: ClientAddress

    func add(to router: Router<PeerRequestContext>) {
        // One wildcard route per method: the router refuses `:issuer` beside `**`.
        router.post("/.well-known/pki/ocsp/**") { request, context in
            try await handle(request, context) { request in
                let issuer = request.uri.path.dropFirst(Self.prefix.count).split(separator: "/").first.map(String.init) ?? ""
                var request = request
                let body: ByteBuffer
                do {
                    body = try await request.collectBody(upTo: Self.maximumBody)
                } catch {
                    Metric.outcome("oversized")
                    return (OCSPAnswer(body: OCSPResponse.error(.malformedRequest), prepared: nil, status: .malformedRequest),
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
                    return (await core.answer(issuerID: issuer, serialText: rest), .ok)
                }
                guard let der = Self.decodeBase64(rest) else { return (OCSPAnswer.error(.malformedRequest), .ok) }
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
        let client = clients.resolve(peer: context.remoteAddress?.ipAddress,
                                     forwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!])
        if let retryAfter = limiter.check(client) {
            Metric.outcome("rate_limited")
            var response = Self.response(OCSPResponse.error(.tryLater), status: .ok, noCache: true)
            response.headers[.retryAfter] = "\(retryAfter)"
            return response
        }
        let (answer, status) = try await body(request)
        guard let prepared = answer.prepared else {
            return Self.response(answer.body, status: status, noCache: true)
        }
        let now = Date()
        var headers = HTTPFields()
        headers[.contentType] = Self.contentType
        let maxAge = max(0, Int(prepared.nextUpdate.timeIntervalSince(now)))
        headers[.cacheControl] = "max-age=\(maxAge), public, no-transform, must-revalidate"
        headers[.lastModified] = prepared.lastModified
        headers[.expires] = prepared.expires
        headers[.eTag] = prepared.etag
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == prepared.etag || tag == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: prepared.body)))
    }

    static func response(_ body: [UInt8], status: HTTPResponse.Status, noCache: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        if noCache { headers[.cacheControl] = "no-cache" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Issuer id and the rest of a raw (still percent-encoded) GET path,
    /// tolerating repeated slashes around the issuer.
    static func split(_ path: String) -> (String, String)? {
        guard path.hasPrefix(prefix) else { return nil }
        var rest = Substring(path.dropFirst(prefix.count))
        while rest.first == "/" { rest = rest.dropFirst() }
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let issuer = String(rest[..<slash])
        var tail = rest[rest.index(after: slash)...]
        while tail.first == "/" { tail = tail.dropFirst() }
        guard !issuer.isEmpty, !tail.isEmpty else { return nil }
        return (issuer, String(tail))
    }

    /// A serial (hex, optional colons) rather than base64: base64 of a DER SEQUENCE starts with "M".
    static func isSerial(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 60 && text.allSatisfy { $0.isHexDigit || $0 == ":" }
    }

    /// URL-decoded base64; a space (a mangled '+') is read as '+', missing padding is added.
    static func decodeBase64(_ text: String) -> [UInt8]? {
        guard var decoded = text.removingPercentEncoding else { return nil }
        decoded = decoded.replacingOccurrences(of: " ", with: "+")
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while decoded.count % 4 != 0 { decoded += "=" }
        guard decoded.count <= 4 * ((maximumBody + 2) / 3), let data = Data(base64Encoded: decoded) else { return nil }
        return Array(data)
    }
}

/// Metric handles the hot path reuses instead of looking them up per request.
enum Metric {
    static let getDuration = Timer(label: "certctl_ocsp_request_duration_seconds", dimensions: [("method", "GET")])
    static let postDuration = Timer(label: "certctl_ocsp_request_duration_seconds", dimensions: [("method", "POST")])
    static let outcomes: [String: Counter] = Dictionary(uniqueKeysWithValues:
        ["good", "revoked", "unknown", "multiple", "malformed", "oversized", "unauthorized", "rate_limited", "try_later",
         "internal_error", "sig_required", "successful"].map { ($0, Counter(label: "certctl_ocsp_responses_total", dimensions: [("outcome", $0)])) })
    static let sources: [String: Counter] = Dictionary(uniqueKeysWithValues:
        ["memory", "database", "live_signed", "memory_database_down"].map {
            ($0, Counter(label: "certctl_ocsp_response_source_total", dimensions: [("source", $0)]))
        })
    static let responseAge = Recorder(label: "certctl_ocsp_response_age_seconds")

    static func outcome(_ name: String) {
        (outcomes[name] ?? Counter(label: "certctl_ocsp_responses_total", dimensions: [("outcome", name)])).increment()
    }
}
