import CertctlPKI
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import X509

/// `GET /api/v1/certificates/{id}/export?format=pem|der|pkcs7|pkcs12` (docs/export.md).
/// admin and operator may export; every outcome is audited as
/// `certificate.export` and counted in `certctl_certificate_exports_total{format,outcome}`.
/// Each key may export CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR times an hour, counted in Postgres.
struct CertificateExportRoutes: Sendable {
    let support: APISupport
    let certificates: CertificateRecordStore
    let generations: IssuerGenerationStore
    let limiter: ExportRateLimiter
    let audit: AuditLog

    static let passwordHeader = HTTPField.Name("Certctl-Export-Password")!

    enum Format: String, CaseIterable {
        case pem, der, pkcs7, pkcs12

        var contentType: String {
            switch self {
            case .pem: "application/pem-certificate-chain"
            case .der: "application/pkix-cert"
            case .pkcs7: "application/pkcs7-mime; smime-type=certs-only"
            case .pkcs12: "application/x-pkcs12"
            }
        }

        var fileExtension: String {
            switch self {
            case .pem: "pem"
            case .der: "cer"
            case .pkcs7: "p7c"
            case .pkcs12: "p12"
            }
        }
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/certificates/:id/export") { request, context in try await export(request, context) }
    }

    func export(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator, .auditor])
        return try await export(principal: principal, idText: context.parameters.get("id") ?? "",
                                formatText: request.uri.queryParameters["format"].map(String.init) ?? "pem",
                                password: request.headers[Self.passwordHeader])
    }

    /// The export itself, for the API and the web console (which passes its session's principal).
    func export(principal: Principal, idText: String, formatText: String, password passwordGiven: String?) async throws -> Response {
        func refuse(_ error: APIError, outcome: String, auditOutcome: AuditRecord.Outcome) async throws -> Never {
            try await audit.record(AuditRecord(
                service: "admin", actor: principal.actor, action: "certificate.export", outcome: auditOutcome,
                targetType: "certificate", targetID: idText, errorCode: error.code, details: ["format": formatText]))
            Self.count(format: Format(rawValue: formatText)?.rawValue ?? "invalid", outcome: outcome)
            throw error
        }
        guard let format = Format(rawValue: formatText) else {
            try await refuse(APIError(.badRequest, "invalid_format", "format must be one of pem, der, pkcs7, pkcs12"),
                             outcome: "invalid", auditOutcome: .failure)
        }
        guard principal.role == .admin || principal.role == .operator else {
            try await refuse(APIError.forbidden(principal), outcome: "denied", auditOutcome: .denied)
        }
        var password: String?
        if let given = passwordGiven, !(8...1024).contains(given.count) {
            // a password that is sent must be one pkcs12 could use, whatever the format
            try await refuse(APIError(.badRequest, "password_required", "Certctl-Export-Password must have 8 to 1024 characters"),
                             outcome: "invalid", auditOutcome: .failure)
        }
        if format == .pkcs12 {
            guard let value = passwordGiven, (8...1024).contains(value.count) else {
                try await refuse(APIError(.badRequest, "password_required",
                                          "format pkcs12 needs the header Certctl-Export-Password (8 to 1024 characters)"),
                                 outcome: "invalid", auditOutcome: .failure)
            }
            password = value
        }
        guard let id = UUID(uuidString: idText), let record = try await certificates.get(id) else {
            try await refuse(APIError(.notFound, "certificate_not_found", "certificate \(idText) does not exist"),
                             outcome: "not_found", auditOutcome: .failure)
        }
        guard let leafDER = record.certificateDER else {
            try await refuse(APIError(.conflict, "certificate_not_issued", "certificate \(idText) is \(record.status): it has no DER"),
                             outcome: "invalid", auditOutcome: .failure)
        }
        if case .limited(let retryAfter) = try await limiter.admit(keyID: principal.keyID) {
            try await audit.record(AuditRecord(
                service: "admin", actor: principal.actor, action: "certificate.export", outcome: .denied,
                targetType: "certificate", targetID: idText, errorCode: "export_rate_limited",
                details: ["format": format.rawValue, "retry_after_seconds": "\(retryAfter)"]))
            Self.count(format: format.rawValue, outcome: "rate_limited")
            return try Self.rateLimited(retryAfter: retryAfter)
        }
        let chain = [leafDER] + (try await CertificateRoutes.issuerCertificate(of: record, generations: generations).map { [$0] } ?? [])
        let body: [UInt8]
        switch format {
        case .pem: body = Array(chain.map(PEM.certificate).joined().utf8)
        case .der: body = leafDER
        case .pkcs7: body = try CMSSignedData.certsOnly(try chain.map { try Certificate(derEncoded: $0) })
        case .pkcs12: body = try PKCS12.build(certificates: try chain.map { try Certificate(derEncoded: $0) }, password: password ?? "")
        }
        try await audit.record(AuditRecord(
            service: "admin", actor: principal.actor, action: "certificate.export", outcome: .success,
            targetType: "certificate", targetID: record.id.uuidString.lowercased(),
            details: ["format": format.rawValue, "serial": record.serialHex, "issuer_id": record.issuerID]))
        Self.count(format: format.rawValue, outcome: "exported")
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        headers[.cacheControl] = "no-store"
        headers[.contentDisposition] = "attachment; filename=\"\(record.serialHex).\(format.fileExtension)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }


    static func rateLimited(retryAfter: Int) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        headers[.retryAfter] = "\(retryAfter)"
        let body = try JSONEncoder().encode([
            "error": "export_rate_limited",
            "message": "this API key has used its certificate exports for the hour; retry after \(retryAfter) s"])
        return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func count(format: String, outcome: String) {
        Counter(label: "certctl_certificate_exports_total", dimensions: [("format", format), ("outcome", outcome)]).increment()
    }
}
