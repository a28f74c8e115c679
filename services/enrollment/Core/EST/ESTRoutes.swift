import CertctlIssuance
import CertctlPKI
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// RFC 7030 §4: `/.well-known/est[/{label}]/{cacerts,simpleenroll,simplereenroll,csrattrs}`.
package struct ESTRoutes: Sendable {
    static let maxBodyBytes = 1 << 20

    let labels: EnrollmentESTStore
    let profiles: ProfileStore
    let issuers: IssuerStore
    let certificates: CertificateRecordStore
    let issuance: IssuanceService
    let holder: TrustAnchorHolder
    let audit: AuditLog
    let approvals: EnrollmentRequestStore
    let metrics: EnrollMetrics
    let logger: Logger

    package init(labels: EnrollmentESTStore, profiles: ProfileStore, issuers: IssuerStore, certificates: CertificateRecordStore,
                 issuance: IssuanceService, holder: TrustAnchorHolder, audit: AuditLog, approvals: EnrollmentRequestStore,
                 metrics: EnrollMetrics, logger: Logger) {
        self.labels = labels
        self.profiles = profiles
        self.issuers = issuers
        self.certificates = certificates
        self.issuance = issuance
        self.holder = holder
        self.audit = audit
        self.approvals = approvals
        self.metrics = metrics
        self.logger = logger
    }

    /// A refusal: HTTP status, typed code, text for the client.
    struct Refusal: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String
        init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
            self.status = status
            self.code = code
            self.message = message
        }
    }

    package func add(to router: Router<ESTRequestContext>) {
        for prefix in ["/.well-known/est", "/.well-known/est/:label"] {
            router.get(RouterPath(prefix + "/cacerts")) { request, context in await run("cacerts", request, context) { try await cacerts($0) } }
            router.get(RouterPath(prefix + "/csrattrs")) { request, context in await run("csrattrs", request, context) { try await csrattrs($0) } }
            router.post(RouterPath(prefix + "/simpleenroll")) { request, context in
                await run("simpleenroll", request, context) { try await enroll($0, request, context, renewal: false) }
            }
            router.post(RouterPath(prefix + "/serverkeygen")) { request, context in
                await run("serverkeygen", request, context) { try await serverKeyGen($0, request, context) }
            }
            router.post(RouterPath(prefix + "/simplereenroll")) { request, context in
                await run("simplereenroll", request, context) { try await enroll($0, request, context, renewal: true) }
            }
        }
    }

    private func run(_ operation: String, _ request: Request, _ context: ESTRequestContext,
                     _ body: (ESTLabelRecord) async throws -> Response) async -> Response {
        let name = context.parameters.get("label") ?? "default"
        do {
            guard let label = try await labels.get(name) else { throw Refusal(.notFound, "est_label_not_found", "no EST label \(name)") }
            let response = try await body(label)
            metrics.count("est", operation, response.status == .accepted ? "pending" : "success")
            return response
        } catch let refusal as Refusal {
            metrics.count("est", operation, refusal.code)
            logger.notice("EST request refused", metadata: ["label": "\(name)", "operation": "\(operation)", "code": "\(refusal.code)",
                                                           "reason": "\(refusal.message)"])
            if refusal.status != .notFound {
                // audited per client address, code and minute: a client retrying in a loop adds one row a minute
                metrics.refusals.record(RefusalAggregator.Kind(
                    proto: "est", actor: "est:\(name)", action: "est.\(operation)", code: refusal.code,
                    targetType: "est_label", targetID: name),
                    source: context.channel.remoteAddress?.ipAddress ?? "unknown", details: ["reason": refusal.message])
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain"
            if refusal.status == .unauthorized { headers[.wwwAuthenticate] = "Basic realm=\"certctl EST \(name)\"" }
            if refusal.status == .serviceUnavailable { headers[.retryAfter] = "10" }
            return Self.errorBody(refusal.status, refusal.code, refusal.message, headers: headers)
        } catch {
            // Database down (503) or a bug (500): the client gets the generic code and the incident id, the log the details.
            metrics.count("est", operation, "unavailable")
            let incident = Incident.record("EST request failed", error: error, metadata: ["label": "\(name)", "operation": "\(operation)"],
                                           logger: logger)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain"
            if incident.kind == .databaseUnavailable { headers[.retryAfter] = "10" }
            return Self.errorBody(HTTPResponse.Status(code: incident.status), incident.code, incident.message, headers: headers)
        }
    }

    /// An EST error body (RFC 7030 §4.2.3 leaves its form open): one text/plain line `code: message`, the typed
    /// code first so that a client or an operator can match on it.
    static func errorBody(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields) -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "\(code): \(message)\n")))
    }

    /// §4.1: the issuer's CA certificate as a base64 certs-only PKCS#7.
    private func cacerts(_ label: ESTLabelRecord) async throws -> Response {
        guard let issuer = try await issuers.get(label.issuerID) else {
            throw Refusal(.internalServerError, "est_issuer_missing", "issuer \(label.issuerID) does not exist")
        }
        return Self.pkcs7(try CMSSignedData.certsOnly([try Certificate(derEncoded: issuer.certificateDER)]))
    }

    /// §4.5: the key types and signature algorithms of the label's certificate profile
    /// (base64 DER CsrAttrs); 204 when the profile names none this build knows.
    private func csrattrs(_ label: ESTLabelRecord) async throws -> Response {
        guard let profile = try await profiles.get(label.profileID) else {
            throw Refusal(.internalServerError, "est_profile_missing", "certificate profile \(label.profileID) does not exist")
        }
        guard let der = try ESTCSRAttributes.der(for: profile.allowedKeyAlgorithms.compactMap(KeyAlgorithm.init(rawValue:))) else {
            return Response(status: .noContent)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/csrattrs"
        headers[.init("Content-Transfer-Encoding")!] = "base64"
        let text = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]) + "\n"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// §4.2 simpleenroll (Basic or mTLS against the label's bundle) and
    /// §4.2.2 simplereenroll (the renewal rules of `checkRenewable`).
    private func enroll(_ label: ESTLabelRecord, _ request: Request, _ context: ESTRequestContext, renewal: Bool) async throws -> Response {
        let clientCertificate = try await peerCertificate(context)
        let actor: String
        if renewal {
            guard let current = clientCertificate else {
                throw Refusal(.unauthorized, "est_reenroll_needs_client_certificate", "simplereenroll needs the certificate being renewed as TLS client certificate")
            }
            actor = "est:\(label.name):reenroll:\(current.serialNumber)"
        } else {
            actor = try await authenticate(request, clientCertificate, label: label)
        }
        let csr = try await readCSR(request)
        var renewed: CertificateRecord?
        if renewal, let current = clientCertificate {
            renewed = try await checkRenewable(current, csr: csr, label: label)
        }
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        if label.requireApproval {
            return try await held(label, csr: csr, csrDER: serializer.serializedBytes, actor: actor,
                                  operation: renewal ? "simplereenroll" : "simpleenroll", renewed: renewed,
                                  remote: context.channel.remoteAddress)
        }
        do {
            let result = try await issuance.issue(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: serializer.serializedBytes).pemString,
                issuerID: label.issuerID, profileID: label.profileID, validityDays: nil, requestedBy: actor, source: "est",
                idempotencyKey: nil, enrollmentEndpoint: EnrollmentEndpoint.est(label.name)))
            try? await audit.record(AuditRecord(service: "enroll", actor: actor, action: renewal ? "est.simplereenroll" : "est.simpleenroll",
                                               outcome: .success, targetType: "certificate",
                                               targetID: result.certificate.id.uuidString.lowercased(),
                                               details: ["label": label.name, "serial": result.certificate.serialHex]
                                                .merging(CertificateStanding.auditDetails(renewed: renewed)) { a, _ in a }))
            return Self.pkcs7(try CMSSignedData.certsOnly([try Certificate(derEncoded: result.certificate.certificateDER ?? [])]))
        } catch let error as IssuanceError {
            throw Self.refusal(error)
        }
    }

    /// Issuance's refusal as EST answers it: the signer unreachable or Postgres read-only is a 503
    /// the client retries (Retry-After), anything else is the request's fault.
    static func refusal(_ error: IssuanceError) -> Refusal {
        switch error {
        case .signerUnavailable: return Refusal(.serviceUnavailable, "est_signer_unavailable", "try again later")
        case .databaseReadOnly: return Refusal(.serviceUnavailable, "est_database_read_only", "try again later")
        default: return Refusal(.badRequest, "est_issuance_refused_\(error.code)", error.description)
        }
    }

    /// How long a client is asked to wait before it sends a held request again (RFC 7030 §4.2.3).
    static let retryAfterSeconds = 60

    /// RFC 7030 §4.2.3 on a label with require_approval: the first request is stored and answered
    /// 202 + Retry-After; the same CSR from the same actor gets 202 again while it is pending, the
    /// certificate once approved (while it is valid and not revoked), and a refusal once rejected.
    private func held(_ label: ESTLabelRecord, csr: CertificateSigningRequest, csrDER: [UInt8], actor: String, operation: String,
                      renewed: CertificateRecord?, remote: SocketAddress?) async throws -> Response {
        let digest = Array(SHA256.hash(data: csrDER))
        if let previous = try await approvals.latestEST(endpoint: label.name, csrSHA256: digest, requester: actor) {
            switch previous.status {
            case .pending:
                return Self.accepted(previous)
            case .issued:
                if let id = previous.certificateID, let record = try await certificates.get(id), record.status == "issued",
                   let der = record.certificateDER, (record.notAfter ?? .distantPast) > Date() {
                    return Self.pkcs7(try CMSSignedData.certsOnly([try Certificate(derEncoded: der)]))
                }
                // revoked or expired since: a new request
            case .rejected:
                throw Refusal(.forbidden, "est_request_rejected",
                              "request \(previous.id.uuidString.lowercased()) was rejected by \(previous.decidedBy ?? "an operator"): \(previous.reason ?? "")")
            case .failed:
                throw Refusal(.badRequest, "est_request_failed",
                              "request \(previous.id.uuidString.lowercased()) was approved but issuance failed: \(previous.reason ?? "")")
            }
        }
        do {
            try await issuance.check(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: csrDER).pemString, issuerID: label.issuerID,
                profileID: label.profileID, validityDays: nil, requestedBy: actor, source: "est", idempotencyKey: nil))
        } catch let error as IssuanceError {
            throw Refusal(.badRequest, "est_issuance_refused_\(error.code)", error.description)
        }
        let remoteText = remote.map { "\($0)" }
        let (stored, created) = try await approvals.create(EnrollmentRequestRecord(
            protocolName: "est", endpoint: label.name, operation: operation, issuerID: label.issuerID, profileID: label.profileID,
            validityDays: nil, transactionID: nil, senderNonce: nil, csrDER: csrDER, csrSHA256: digest,
            subject: csr.subject.description, subjectAltNames: HeldRequests.requestedSANs(csr), requester: actor, requesterCertificateDER: nil,
            remote: remoteText
        ), audit: AuditRecord(service: "enroll", actor: actor, action: "enrollment_request.create", outcome: .success,
                              details: ["protocol": "est", "endpoint": label.name, "operation": operation,
                                        "subject": csr.subject.description, "remote": remoteText ?? "-"]
                                .merging(CertificateStanding.auditDetails(renewed: renewed)) { a, _ in a }))
        if created {
            logger.notice("EST request held for approval", metadata: [
                "label": "\(label.name)", "request_id": "\(stored.id.uuidString.lowercased())", "actor": "\(actor)", "subject": "\(csr.subject)",
            ])
        }
        return Self.accepted(stored)
    }

    static func accepted(_ request: EnrollmentRequestRecord) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        headers[.retryAfter] = "\(retryAfterSeconds)"
        let text = "request \(request.id.uuidString.lowercased()) is waiting for an operator's approval; send the same request again later\n"
        return Response(status: .accepted, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// §4.4: authenticated like simpleenroll; the CSR names the subject, SANs and key type.
    /// Not on a label with require_approval: the generated private key would have to be kept until
    /// an operator decides, and certctl never stores private keys.
    private func serverKeyGen(_ label: ESTLabelRecord, _ request: Request, _ context: ESTRequestContext) async throws -> Response {
        let actor = try await authenticate(request, try await peerCertificate(context), label: label)
        guard !label.requireApproval else {
            throw Refusal(.forbidden, "est_serverkeygen_approval_unsupported",
                          "label \(label.name) requires approval; serverkeygen would have to store the generated private key until an operator decides. Use simpleenroll with your own key")
        }
        let generated = try ESTServerKeyGen.generate(like: try await readCSR(request))
        var serializer = DER.Serializer()
        try serializer.serialize(generated.csr)
        do {
            let result = try await issuance.issue(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: serializer.serializedBytes).pemString,
                issuerID: label.issuerID, profileID: label.profileID, validityDays: nil, requestedBy: actor, source: "est",
                idempotencyKey: nil, enrollmentEndpoint: EnrollmentEndpoint.est(label.name)))
            try? await audit.record(AuditRecord(service: "enroll", actor: actor, action: "est.serverkeygen", outcome: .success,
                                               targetType: "certificate", targetID: result.certificate.id.uuidString.lowercased(),
                                               details: ["label": label.name, "serial": result.certificate.serialHex]))
            return ESTServerKeyGen.response(
                privateKeyPKCS8: generated.pkcs8DER,
                certsOnly: try CMSSignedData.certsOnly([try Certificate(derEncoded: result.certificate.certificateDER ?? [])]))
        } catch let error as IssuanceError {
            throw Self.refusal(error)
        }
    }

    private func authenticate(_ request: Request, _ certificate: Certificate?, label: ESTLabelRecord) async throws -> String {
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("basic ") {
            guard label.allowBasic else { throw Refusal(.unauthorized, "est_basic_not_allowed", "label \(label.name) does not accept HTTP Basic") }
            guard let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
                throw Refusal(.unauthorized, "est_basic_malformed", "malformed Basic credentials")
            }
            let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
            guard try await labels.authenticate(label: label.name, username: user, password: password) else {
                throw Refusal(.unauthorized, "est_basic_invalid", "wrong user name or password")
            }
            return "est:\(label.name):\(user)"
        }
        if let certificate {
            guard label.allowMTLS, let anchor = label.trustAnchor, let pool = holder.pool(anchor) else {
                throw Refusal(.forbidden, "est_mtls_not_allowed", "label \(label.name) does not accept client certificates for simpleenroll")
            }
            guard await ESTServer.validates(certificate, intermediates: [], roots: pool.certificates) else {
                throw Refusal(.forbidden, "est_client_certificate_untrusted", "the client certificate does not chain to trust bundle \(anchor)")
            }
            try await checkStanding(certificate)
            return "est:\(label.name):mtls:\(certificate.subject)"
        }
        throw Refusal(.unauthorized, "est_unauthenticated", "authenticate with HTTP Basic or a client certificate")
    }

    private var standing: CertificateStanding { CertificateStanding(issuers: issuers, certificates: certificates) }

    /// Issue #12 §4: the client certificate is a current certificate of this label's issuer (issued, not
    /// revoked, not expired) that this label issued or accepts, and the CSR keeps its subject and SANs.
    private func checkRenewable(_ current: Certificate, csr: CertificateSigningRequest, label: ESTLabelRecord) async throws
        -> CertificateRecord {
        do {
            return try await standing.renewable(current, csr: csr, issuerID: label.issuerID, endpoint: EnrollmentEndpoint.est(label.name),
                                                accepts: label.acceptRenewalsFrom)
        } catch let refusal as CertificateStanding.Refusal {
            throw Refusal(.forbidden, "est_reenroll_\(refusal.code)", "simplereenroll: \(refusal)")
        }
    }

    /// A client certificate certctl issued (its issuer name is a certctl issuer's) must still be issued and not
    /// revoked. One from another CA of the label's bundle has no record here to check.
    private func checkStanding(_ certificate: Certificate) async throws {
        guard let issuer = try await standing.certctlIssuer(of: certificate) else { return }
        do {
            _ = try await standing.current(certificate, issuerID: issuer.id)
        } catch let refusal as CertificateStanding.Refusal {
            throw Refusal(.forbidden, "est_client_certificate_\(refusal.code)", "the client certificate: \(refusal)")
        }
    }

    private func peerCertificate(_ context: ESTRequestContext) async throws -> Certificate? {
        guard let peer = try? await context.channel.nioSSL_peerCertificate().get() else { return nil }
        return try Certificate(derEncoded: peer.toDERBytes())
    }

    /// Body: base64 of a DER PKCS#10 (RFC 7030 §4.2.1), whitespace allowed, sent as application/pkcs10.
    private func readCSR(_ request: Request) async throws -> CertificateSigningRequest {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/pkcs10" else {
            throw Refusal(.unsupportedMediaType, "est_wrong_content_type",
                          "the body must be sent as Content-Type application/pkcs10 (got \(mediaType ?? "none"))")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes {
            throw Refusal(.contentTooLarge, "est_body_too_large", "bodies are limited to \(Self.maxBodyBytes) bytes")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: Self.maxBodyBytes) } catch {
            throw Refusal(.contentTooLarge, "est_body_too_large", "bodies are limited to \(Self.maxBodyBytes) bytes")
        }
        guard let der = Data(base64Encoded: String(buffer: buffer), options: .ignoreUnknownCharacters), !der.isEmpty,
              let csr = try? CertificateSigningRequest(derEncoded: Array(der)) else {
            throw Refusal(.badRequest, "est_malformed_csr", "the body must be a base64-encoded DER PKCS#10 request")
        }
        return csr
    }

    static func pkcs7(_ der: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/pkcs7-mime; smime-type=certs-only"
        headers[.init("Content-Transfer-Encoding")!] = "base64"
        let text = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]) + "\n"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
