import CertctlIssuance
import CertctlPKI
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird

/// `/api/v1/certificates`: issue from a CSR, list, get, revoke.
struct CertificateRoutes: Sendable {
    let support: APISupport
    let issuance: IssuanceService
    let certificates: CertificateRecordStore
    let revocations: RevocationStore
    let issuers: IssuerStore
    let generations: IssuerGenerationStore

    struct IssueBody: Decodable {
        let csr_pem: String
        let issuer_id: String?
        let profile_id: String?
        let validity_days: Int?
        let validity_seconds: Int?
    }

    struct RevokeBody: Decodable {
        let reason: String
        let invalidity_date: Date?
    }

    func add(to router: Router<BasicRequestContext>) {
        let group = router.group("/api/v1/certificates")
        group.post { request, _ in try await issue(request) }
        group.get { request, _ in try await list(request) }
        group.get("/:id") { request, context in try await get(request, context) }
        group.post("/:id/revoke") { request, context in try await revoke(request, context) }
    }

    func issue(_ request: Request) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator])
        let body = try await APISupport.decode(IssueBody.self, from: request)
        let idempotencyKey = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key = idempotencyKey, !(1...200).contains(key.count) {
            throw APIError(.badRequest, "invalid_request", "Idempotency-Key must be 1 to 200 characters")
        }
        do {
            let result = try await issuance.issue(IssuanceRequest(
                csrPEM: body.csr_pem, issuerID: body.issuer_id ?? "iss-local", profileID: body.profile_id ?? "default",
                validityDays: body.validity_days, requestedBy: principal.actor, source: "api", idempotencyKey: idempotencyKey,
                validitySeconds: body.validity_seconds))
            return try APISupport.json(CertificateJSON(result.certificate, issuerCertificateDER: result.issuerCertificateDER),
                                       status: result.created ? .created : .ok)
        } catch let error as IssuanceError {
            throw APIError.from(error)
        }
    }

    func list(_ request: Request) async throws -> Response {
        _ = try await support.require(request, [.admin, .operator, .auditor])
        let query = request.uri.queryParameters
        var filter = CertificateFilter()
        filter.limit = try APISupport.limit(request)
        if let status = query["status"].map(String.init) {
            guard ["pending", "issued", "failed", "revoked"].contains(status) else {
                throw APIError(.badRequest, "invalid_request", "status must be pending, issued, failed or revoked")
            }
            filter.status = status
        }
        filter.issuerID = query["issuer_id"].map(String.init)
        filter.text = query["q"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        if let serial = query["serial"].map(String.init) {
            guard let canonical = SerialNumber.canonicalize(serial) else {
                throw APIError(.badRequest, "invalid_serial", "serial must be a positive hex number of at most 20 octets")
            }
            filter.serialHex = canonical
        }
        if let text = query["expiring_before"].map(String.init) {
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw APIError(.badRequest, "invalid_request", "expiring_before must be an RFC 3339 timestamp")
            }
            filter.expiringBefore = date
        }
        if let text = query["issued_before"].map(String.init) {
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw APIError(.badRequest, "invalid_request", "issued_before must be an RFC 3339 timestamp")
            }
            filter.issuedBefore = date
        }
        filter.profileID = query["profile_id"].map(String.init)
        if let cursor = query["cursor"].map(String.init) {
            guard let after = UUID(uuidString: cursor) else { throw APIError(.badRequest, "invalid_cursor", "cursor is not valid") }
            filter.after = after
        }
        let records = try await certificates.list(filter)
        let issuerDER = try await issuerCertificates(Set(records.map(\.issuerID)))
        let next = records.count == filter.limit ? records.last.map { $0.id.uuidString.lowercased() } : nil
        return try APISupport.json(Page(
            items: records.map { CertificateJSON($0, issuerCertificateDER: Self.issuerCertificate(of: $0, in: issuerDER)) },
            next_cursor: next))
    }

    func get(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await support.require(request, [.admin, .operator, .auditor])
        let record = try await find(context)
        let issuerDER = try await issuerCertificates([record.issuerID])
        return try APISupport.json(CertificateJSON(record, issuerCertificateDER: Self.issuerCertificate(of: record, in: issuerDER)))
    }

    func revoke(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator])
        let id = try certificateID(context)
        let body = try await APISupport.decode(RevokeBody.self, from: request)
        let reason = try APISupport.revocationReason(body.reason)
        do {
            _ = try await revocations.revoke(RevocationRequest(
                certificateID: id, reasonCode: reason.rawValue, invalidityDate: body.invalidity_date,
                actor: principal.actor, service: "admin"))
        } catch RevocationStoreError.notFound {
            throw APIError(.notFound, "certificate_not_found", "certificate \(id.uuidString.lowercased()) does not exist")
        } catch RevocationStoreError.notRevocable(let why) {
            throw APIError(.conflict, "not_revocable", why)
        }
        return try await get(request, context)
    }

    private func certificateID(_ context: BasicRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError(.notFound, "certificate_not_found", "certificate ids are UUIDs")
        }
        return id
    }

    private func find(_ context: BasicRequestContext) async throws -> CertificateRecord {
        let id = try certificateID(context)
        guard let record = try await certificates.get(id) else {
            throw APIError(.notFound, "certificate_not_found", "certificate \(id.uuidString.lowercased()) does not exist")
        }
        return record
    }

    private func issuerCertificates(_ ids: Set<String>) async throws -> [String: [Int: [UInt8]]] {
        try await Self.issuerCertificates(ids, generations: generations)
    }

    /// Every generation's CA certificate of these issuers: a certificate's chain is its own generation's.
    static func issuerCertificates(_ ids: Set<String>, generations: IssuerGenerationStore) async throws -> [String: [Int: [UInt8]]] {
        var result: [String: [Int: [UInt8]]] = [:]
        for id in ids {
            for generation in try await generations.list(issuerID: id) {
                result[id, default: [:]][generation.generation] = generation.certificateDER
            }
        }
        return result
    }

    /// The CA certificate of the generation that signed `record` (export and the console's detail page).
    static func issuerCertificate(of record: CertificateRecord, generations: IssuerGenerationStore) async throws -> [UInt8]? {
        issuerCertificate(of: record, in: try await issuerCertificates([record.issuerID], generations: generations))
    }

    static func issuerCertificate(of record: CertificateRecord, in certificates: [String: [Int: [UInt8]]]) -> [UInt8]? {
        guard let byGeneration = certificates[record.issuerID] else { return nil }
        if let generation = record.issuerGeneration { return byGeneration[generation] }
        return byGeneration.min { $0.key < $1.key }?.value
    }
}

