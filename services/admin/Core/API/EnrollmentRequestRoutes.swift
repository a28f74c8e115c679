import CertctlConfig
import CertctlIssuance
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import Hummingbird
import SwiftASN1
import X509

/// `/api/v1/enrollment/requests`: SCEP and EST requests held for approval
/// (profiles and labels with `require_approval`). Approving issues the
/// certificate at once through the same issuance core as `POST
/// /api/v1/certificates`; the device collects it on its next poll.
struct EnrollmentRequestRoutes: Sendable {
    let support: APISupport
    let issuance: IssuanceService
    let store: EnrollmentRequestStore

    struct RejectBody: Decodable {
        let reason: String
    }

    struct RequestJSON: Encodable {
        let id: String
        let `protocol`: String
        let endpoint: String
        let operation: String
        let issuer_id: String
        let profile_id: String
        let validity_days: Int?
        let transaction_id: String?
        let subject: String
        let subject_alt_names: [String]
        let csr_pem: String
        let csr_sha256: String
        let requester: String
        let requester_certificate_subject: String?
        let requester_certificate_sha256: String?
        let remote: String?
        let status: String
        let certificate_id: String?
        let decided_by: String?
        let decided_at: Date?
        let reason: String?
        let created_at: Date

        init(_ r: EnrollmentRequestRecord) {
            id = r.id.uuidString.lowercased(); `protocol` = r.protocolName; endpoint = r.endpoint; operation = r.operation
            issuer_id = r.issuerID; profile_id = r.profileID; validity_days = r.validityDays; transaction_id = r.transactionID
            subject = r.subject; subject_alt_names = r.subjectAltNames
            csr_pem = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: r.csrDER).pemString
            csr_sha256 = Hex.string(r.csrSHA256); requester = r.requester
            requester_certificate_subject = r.requesterCertificateDER.flatMap { try? Certificate(derEncoded: $0) }.map { "\($0.subject)" }
            requester_certificate_sha256 = r.requesterCertificateDER.map { Hex.string(SHA256.hash(data: $0)) }
            remote = r.remote; status = r.status.rawValue; certificate_id = r.certificateID?.uuidString.lowercased()
            decided_by = r.decidedBy; decided_at = r.decidedAt; reason = r.reason; created_at = r.createdAt
        }
    }

    func add(to router: Router<BasicRequestContext>) {
        let group = router.group("/api/v1/enrollment/requests")
        group.get { request, _ in try await list(request) }
        group.get("/:id") { request, context in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            let id = try Self.requestID(context)
            guard let record = try await store.get(id) else { throw Self.notFound(id) }
            return try APISupport.json(RequestJSON(record))
        }
        group.post("/:id/approve") { request, context in try await approve(request, context) }
        group.post("/:id/reject") { request, context in try await reject(request, context) }
    }

    func list(_ request: Request) async throws -> Response {
        _ = try await support.require(request, [.admin, .operator, .auditor])
        let query = request.uri.queryParameters
        var filter = EnrollmentRequestFilter()
        filter.limit = try APISupport.limit(request)
        if let text = query["status"].map(String.init) {
            guard let status = EnrollmentRequestRecord.Status(rawValue: text) else {
                throw APIError(.badRequest, "invalid_request", "status must be pending, issued, rejected or failed")
            }
            filter.status = status
        }
        if let text = query["protocol"].map(String.init) {
            guard ["scep", "est"].contains(text) else { throw APIError(.badRequest, "invalid_request", "protocol must be scep or est") }
            filter.protocolName = text
        }
        filter.endpoint = query["endpoint"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        if let cursor = query["cursor"].map(String.init) {
            guard let after = UUID(uuidString: cursor) else { throw APIError(.badRequest, "invalid_cursor", "cursor is not valid") }
            filter.after = after
        }
        let records = try await store.list(filter)
        let next = records.count == filter.limit ? records.last.map { $0.id.uuidString.lowercased() } : nil
        return try APISupport.json(Page(items: records.map(RequestJSON.init), next_cursor: next))
    }

    /// Issues now, with the request's issuer, certificate profile and validity as they were
    /// when it arrived, requested_by the device's actor (the approver is in decided_by and the audit).
    func approve(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator])
        return try APISupport.json(RequestJSON(try await approve(try Self.requestID(context), by: principal)))
    }

    /// The approval itself, for the API and the web console: issues the held request, or marks it failed (422).
    func approve(_ id: UUID, by principal: Principal) async throws -> EnrollmentRequestRecord {
        let issuance = self.issuance
        do {
            let record = try await store.approve(id, actor: principal.actor, audit: { held, outcome in
                var details = ["protocol": held.protocolName, "endpoint": held.endpoint, "subject": held.subject]
                switch outcome {
                case .issued(let certificateID):
                    details["certificate_id"] = certificateID.uuidString.lowercased()
                    return AuditRecord(service: "admin", actor: principal.actor, action: "enrollment_request.approve", outcome: .success,
                                       targetType: "enrollment_request", targetID: id.uuidString.lowercased(), details: details)
                case .failed(let code, let reason):
                    details["reason"] = reason
                    return AuditRecord(service: "admin", actor: principal.actor, action: "enrollment_request.approve", outcome: .failure,
                                       targetType: "enrollment_request", targetID: id.uuidString.lowercased(), errorCode: code,
                                       details: details)
                }
            }, issue: { held in
                do {
                    return .issued(certificateID: try await Self.issueOnce(held, issuance))
                } catch let error as IssuanceError {
                    // Unreachable signer: nothing decided, the request stays pending (retry the approval).
                    if case .signerUnavailable = error { throw error }
                    return .failed(code: error.code, reason: error.description)
                }
            })
            if record.status == .failed {
                throw APIError(.unprocessableContent, "enrollment_request_failed",
                               "request \(id.uuidString.lowercased()) could not be issued and is now failed: \(record.reason ?? "")")
            }
            return record
        } catch let error as EnrollmentRequestError {
            throw Self.map(error)
        } catch let error as IssuanceError {
            throw APIError.from(error)
        }
    }

    /// Issues under an Idempotency-Key derived from the request id, so an approval retried after the
    /// signer was unreachable does not sign a second certificate: the earlier reservation is returned
    /// once the signer completed it, "still being signed" while it is pending, and a fresh attempt (under
    /// a key naming the failed reservation) once the reaper marked it failed.
    static func issueOnce(_ held: EnrollmentRequestRecord, _ issuance: IssuanceService) async throws -> UUID {
        var key = "enrollment-request:\(held.id.uuidString.lowercased())"
        for _ in 0..<5 {
            let result = try await issuance.issue(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: held.csrDER).pemString,
                issuerID: held.issuerID, profileID: held.profileID, validityDays: held.validityDays,
                requestedBy: held.requester, source: held.protocolName, idempotencyKey: key,
                enrollmentEndpoint: held.protocolName == "scep" ? EnrollmentEndpoint.scep(held.endpoint) : EnrollmentEndpoint.est(held.endpoint)))
            switch result.certificate.status {
            case "issued":
                return result.certificate.id
            case "pending":
                throw IssuanceError.signerUnavailable(
                    "an earlier approval of this request is still being signed (certificate \(result.certificate.id.uuidString.lowercased())); try again shortly")
            default:
                key = "enrollment-request:\(held.id.uuidString.lowercased()):after:\(result.certificate.id.uuidString.lowercased())"
            }
        }
        throw IssuanceError.signerUnavailable("five signing attempts of this request failed; try again later")
    }

    func reject(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator])
        let id = try Self.requestID(context)
        let body = try await APISupport.decode(RejectBody.self, from: request)
        return try APISupport.json(RequestJSON(try await reject(id, by: principal, reason: body.reason)))
    }

    /// The rejection itself, for the API and the web console.
    func reject(_ id: UUID, by principal: Principal, reason given: String) async throws -> EnrollmentRequestRecord {
        let reason = given.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...1000).contains(reason.count) else {
            throw APIError(.badRequest, "invalid_request", "reason must have 1 to 1000 characters")
        }
        do {
            let record = try await store.reject(id, actor: principal.actor, reason: reason, audit: AuditRecord(
                service: "admin", actor: principal.actor, action: "enrollment_request.reject", outcome: .success,
                targetType: "enrollment_request", targetID: id.uuidString.lowercased(), details: ["reason": reason]))
            return record
        } catch let error as EnrollmentRequestError {
            throw Self.map(error)
        }
    }

    static func requestID(_ context: BasicRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError(.notFound, "enrollment_request_not_found", "enrollment request ids are UUIDs")
        }
        return id
    }

    static func notFound(_ id: UUID) -> APIError {
        APIError(.notFound, "enrollment_request_not_found", "enrollment request \(id.uuidString.lowercased()) does not exist")
    }

    static func map(_ error: EnrollmentRequestError) -> APIError {
        switch error {
        case .notFound(let id): notFound(id)
        case .notPending(let id, let status):
            APIError(.conflict, "enrollment_request_not_pending",
                     "enrollment request \(id.uuidString.lowercased()) is \(status.rawValue), not pending")
        }
    }
}
