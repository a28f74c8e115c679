import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import Hummingbird

/// HTTP publication, per issuer key generation:
/// `/.well-known/pki/crl/{issuer_id}/{generation}` (the CDP URL issuance
/// writes) as DER, `….pem` or `?format=pem` as PEM, with RFC 9110 validators;
/// `/.well-known/pki/ca/{issuer_id}/{generation}.crt` (AIA caIssuers). The
/// generation-less `/.well-known/pki/crl/{issuer_id}` and
/// `/.well-known/pki/ca/{issuer_id}.crt` serve the active generation.
struct CRLRoutes {
    let publisher: CRLPublisher
    let store: CRLStore
    let maxAge: Duration

    func add(to router: Router<BasicRequestContext>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/.well-known/pki/crl/:issuer", method: method) { request, context in
                await crl(request, name: context.parameters.get("issuer") ?? "", generation: nil)
            }
            router.on("/.well-known/pki/crl/:issuer/:generation", method: method) { request, context in
                await crl(request, name: context.parameters.get("generation") ?? "",
                          generation: context.parameters.get("issuer") ?? "")
            }
            // one parameter name per path position: the router's trie requires it
            router.on("/.well-known/pki/ca/:issuer", method: method) { _, context in
                await caCertificate(context.parameters.get("issuer") ?? "", generation: nil)
            }
            router.on("/.well-known/pki/ca/:issuer/:file", method: method) { _, context in
                await caCertificate(context.parameters.get("file") ?? "", generation: context.parameters.get("issuer") ?? "")
            }
        }
    }

    enum Format { case der, pem }

    /// "iss-local" → DER, "iss-local.crl" → DER, "iss-local.pem" → PEM.
    static func parse(_ name: String) -> (issuerID: String, format: Format)? {
        var issuer = Substring(name)
        var format = Format.der
        if issuer.hasSuffix(".pem") { issuer = issuer.dropLast(4); format = .pem }
        else if issuer.hasSuffix(".crl") || issuer.hasSuffix(".der") { issuer = issuer.dropLast(4) }
        guard IssuerID.isValid(issuer) else { return nil }
        return (String(issuer), format)
    }


    /// `issuerSegment` nil: `name` is "{issuer}[.ext]" (the active generation);
    /// otherwise `name` is "{generation}[.ext]" under issuer `issuerSegment`.
    static func target(_ name: String, issuerSegment: String?) -> (issuerID: String, generation: Int?, format: Format)? {
        guard let (last, format) = parse(name) else {
            return nil
        }
        guard let issuerSegment else { return (last, nil, format) }
        guard IssuerID.isValid(issuerSegment), let generation = Int(last), generation >= 1, last.first != "0" else { return nil }
        return (issuerSegment, generation, format)
    }

    func crl(_ request: Request, name: String, generation issuerSegment: String?) async -> Response {
        guard var (issuerID, generation, format) = Self.target(name, issuerSegment: issuerSegment) else {
            CRLMetrics.request("not_found")
            return Self.text(.notFound, "unknown issuer\n")
        }
        if request.uri.queryParameters.get("format") == "pem" { format = .pem }
        switch await publisher.lookup(issuerID, generation: generation) {
        case .unknownIssuer:
            CRLMetrics.request("not_found")
            return Self.text(.notFound, "unknown issuer \(issuerID)\(generation.map { " generation \($0)" } ?? "")\n")
        case .expired:
            CRLMetrics.request("not_found")
            return Self.text(.notFound, "generation \(generation.map(String.init) ?? "") of issuer \(issuerID) is archived and its CA certificate has expired\n")
        case .unavailable(let reason):
            CRLMetrics.request("unavailable")
            var response = Self.text(.serviceUnavailable, "no valid CRL for \(issuerID) can be served right now (\(reason))\n")
            response.headers[.retryAfter] = "30"
            return response
        case .found(let document):
            var headers = validators(document, format: format)
            if Self.notModified(request.headers, document: document, etag: headers[.eTag] ?? document.etag) {
                CRLMetrics.request("not_modified")
                return Response(status: .notModified, headers: headers)
            }
            CRLMetrics.request("served")
            switch format {
            case .der:
                headers[.contentType] = "application/pkix-crl"
                headers[.contentLength] = "\(document.body.readableBytes)"
                return Response(status: .ok, headers: headers,
                                body: request.method == .head ? .init() : .init(byteBuffer: document.body))
            case .pem:
                // rendered piece by piece while it is sent: a large CRL never exists as one PEM string
                let length = PEM.crlLength(derCount: document.body.readableBytes)
                headers[.contentType] = "application/x-pem-file"
                headers[.contentLength] = "\(length)"
                guard request.method != .head else { return Response(status: .ok, headers: headers, body: .init()) }
                let der = document.body.readableBytesView
                return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: length) { writer in
                    for piece in PEM.crlPieces(der) { try await writer.write(ByteBuffer(bytes: piece)) }
                    try await writer.finish(nil)
                })
            }
        }
    }

    /// ETag, Last-Modified = thisUpdate, Expires = nextUpdate, and a max-age
    /// that never outlives the CRL (capped so caches pick up new CRLs soon).
    func validators(_ document: PublishedCRL, format: Format) -> HTTPFields {
        var headers = HTTPFields()
        // the PEM rendering is a different representation: its own validator
        headers[.eTag] = format == .der ? document.etag : String(document.etag.dropLast()) + "-pem\""
        headers[.lastModified] = HTTPDate.format(document.thisUpdate)
        headers[.expires] = HTTPDate.format(document.nextUpdate)
        let remaining = max(0, Int(document.nextUpdate.timeIntervalSinceNow))
        let maxAgeSeconds = min(remaining, Int(maxAge.components.seconds))
        headers[.cacheControl] = "public, max-age=\(maxAgeSeconds)"
        return headers
    }

    /// RFC 9110 §13.2.2: If-None-Match decides when present; otherwise
    /// If-Modified-Since against Last-Modified (GET and HEAD only).
    static func notModified(_ headers: HTTPFields, document: PublishedCRL, etag: String) -> Bool {
        if let ifNoneMatch = headers[.ifNoneMatch] {
            return ETagMatch.ifNoneMatch(ifNoneMatch, matches: etag)
        }
        if let since = headers[.ifModifiedSince].flatMap(HTTPDate.parse) {
            return document.thisUpdate.timeIntervalSince1970.rounded(.down) <= since.timeIntervalSince1970
        }
        return false
    }

    func caCertificate(_ file: String, generation issuerSegment: String?) async -> Response {
        var name = Substring(file)
        var pem = false
        if name.hasSuffix(".crt") || name.hasSuffix(".cer") || name.hasSuffix(".der") { name = name.dropLast(4) }
        else if name.hasSuffix(".pem") { name = name.dropLast(4); pem = true }
        let issuerID: String, generation: Int?
        if let issuerSegment {
            guard IssuerID.isValid(Substring(issuerSegment)), let number = Int(name), number >= 1, name.first != "0" else {
                return Self.text(.notFound, "unknown issuer\n")
            }
            (issuerID, generation) = (issuerSegment, number)
        } else {
            guard IssuerID.isValid(name) else { return Self.text(.notFound, "unknown issuer\n") }
            (issuerID, generation) = (String(name), nil)
        }
        do {
            guard let issuer = try await store.generation(issuerID, generation) else {
                return Self.text(.notFound, "unknown issuer \(issuerID)\n")
            }
            var headers = HTTPFields()
            headers[.contentType] = pem ? "application/x-pem-file" : "application/pkix-cert"
            headers[.cacheControl] = "public, max-age=3600"
            let body = pem ? ByteBuffer(string: PEM.certificate(issuer.certificateDER)) : ByteBuffer(bytes: issuer.certificateDER)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        } catch {
            var response = Self.text(.serviceUnavailable, "database unavailable\n")
            response.headers[.retryAfter] = "30"
            return response
        }
    }

    static func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message)))
    }
}
