import CertctlConfig
import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird

/// `/scep/{profile}` and `/scep/{profile}/pkiclient.exe` (RFC 8894 §4).
struct SCEPRoutes: Sendable {
    static let maxBodyBytes = 1 << 20

    let responder: SCEPResponder
    /// Whose X-Forwarded-For names the client (CERTCTL_ENROLL_TRUSTED_PROXIES); nobody else's.
    let clients: ClientAddress

    func add(to router: Router<PeerRequestContext>) {
        for path in ["/scep/:profile", "/scep/:profile/pkiclient.exe"] {
            router.get(RouterPath(path)) { request, context in try await handle(request, context) }
            router.post(RouterPath(path)) { request, context in try await handle(request, context) }
        }
    }

    private func handle(_ request: Request, _ context: PeerRequestContext) async throws -> Response {
        let name = context.parameters.get("profile") ?? ""
        let operation = request.uri.queryParameters["operation"].map(String.init) ?? ""
        let remote = clients.resolve(request, context)
        let endpoint: SCEPEndpointRecord?
        do {
            endpoint = try await responder.endpoint(name)
        } catch {
            // The details go to the log under an id the client can quote, never to the client.
            return Self.write(.incident(Incident.record("SCEP endpoint lookup failed", error: error, metadata: ["profile": "\(name)"],
                                                        logger: responder.logger)))
        }
        guard let endpoint else { return Self.error(404, "no SCEP profile \(name)") }
        switch (operation, request.method) {
        case ("GetCACaps", .get):
            responder.metrics.count("scep", "GetCACaps", "success")
            return Self.write(.text(SCEPResponder.capabilities.joined(separator: "\n") + "\n"))
        case ("GetCACert", .get):
            return Self.write(await responder.caCertificates(endpoint))
        case ("PKIOperation", .get):
            // RFC 8894 §4.3: base64 in `message`; '+' may arrive as a space after form decoding.
            let text = (request.uri.queryParameters["message"].map(String.init) ?? "").replacingOccurrences(of: " ", with: "+")
            guard text.utf8.count <= Self.maxBodyBytes * 4 / 3 + 4,
                  let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters), !bytes.isEmpty else {
                let error = SCEPError("scep_bad_encoding", .badRequest, "message= must be a base64 pkiMessage")
                await responder.refuse(endpoint, nil, error, remote: remote)
                return Self.error(400, error.message)
            }
            return Self.write(await responder.pkiOperation(endpoint, body: Array(bytes), remote: remote))
        case ("PKIOperation", .post):
            let tooLarge = SCEPError("scep_body_too_large", .badRequest, "pkiMessage bodies are limited to \(Self.maxBodyBytes) bytes")
            if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes {
                await responder.refuse(endpoint, nil, tooLarge, remote: remote)
                return Self.error(413, tooLarge.message)
            }
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
            } catch {
                await responder.refuse(endpoint, nil, tooLarge, remote: remote)
                return Self.error(413, tooLarge.message)
            }
            return Self.write(await responder.pkiOperation(endpoint, body: Array(buffer.readableBytesView), remote: remote))
        default:
            return Self.error(400, "unknown SCEP operation \(operation.isEmpty ? "(none)" : operation) for \(request.method)")
        }
    }

    static func write(_ reply: SCEPResponder.Reply) -> Response {
        switch reply {
        case .message(let der): return body(der, type: "application/x-pki-message")
        case .caCertificates(let der): return body(der, type: "application/x-x509-ca-ra-cert")
        case .text(let text): return body(Array(text.utf8), type: "text/plain")
        case .httpError(let status, let code, let message): return error(status, "\(code): \(message)")
        }
    }

    static func body(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ status: Int, _ text: String) -> Response {
        body(Array((text + "\n").utf8), type: "text/plain", status: HTTPResponse.Status(code: status))
    }
}
