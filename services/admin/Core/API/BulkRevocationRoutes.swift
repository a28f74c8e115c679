import CertctlIssuance
import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import Hummingbird
import Logging

/// `POST /api/v1/certificates/revocations`: revoke up to 500 certificates, named by id or serial, in one
/// request (docs/issuance.md, "Bulk revocation"). Each item is its own revocation (transaction and audit event);
/// the answer lists every item's outcome. Repeating a request changes nothing more: items already revoked
/// answer `already_revoked`. The CLI's `cert revoke-bulk` sends larger sets in batches.
struct BulkRevocationRoutes: Sendable {
    let support: APISupport
    let certificates: CertificateRecordStore
    let revocations: RevocationStore
    let logger: Logger

    static let maxItems = 500

    struct Item: Decodable {
        let id: String?
        let serial: String?
        let issuer_id: String?
    }

    struct Body: Decodable {
        let reason: String
        let invalidity_date: Date?
        let items: [Item]
    }

    struct ResultJSON: Encodable {
        let ref: String
        let id: String?
        let outcome: String
        let error_code: String?
        let message: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ref, forKey: .ref)
            try c.encode(id, forKey: .id)
            try c.encode(outcome, forKey: .outcome)
            try c.encode(error_code, forKey: .error_code)
            try c.encode(message, forKey: .message)
        }

        enum CodingKeys: String, CodingKey { case ref, id, outcome, error_code, message }
    }

    struct Summary: Encodable {
        let revoked: Int
        let already_revoked: Int
        let not_found: Int
        let invalid: Int
        let failed: Int
    }

    struct AnswerJSON: Encodable {
        let results: [ResultJSON]
        let summary: Summary
    }

    func add(to router: Router<BasicRequestContext>) {
        router.post("/api/v1/certificates/revocations") { request, _ in try await revokeMany(request) }
    }

    func revokeMany(_ request: Request) async throws -> Response {
        let principal = try await support.require(request, [.admin, .operator])
        let body = try await APISupport.decode(Body.self, from: request)
        let reason = try APISupport.revocationReason(body.reason)
        guard (1...Self.maxItems).contains(body.items.count) else {
            throw APIError(.badRequest, "invalid_request", "items must hold 1 to \(Self.maxItems) entries")
        }
        var results: [ResultJSON] = []
        for item in body.items {
            results.append(await revoke(item, reason: reason, invalidityDate: body.invalidity_date, actor: principal.actor))
        }
        func count(_ outcome: String) -> Int { results.count { $0.outcome == outcome } }
        return try APISupport.json(AnswerJSON(results: results, summary: Summary(
            revoked: count("revoked"), already_revoked: count("already_revoked"), not_found: count("not_found"),
            invalid: count("invalid"), failed: count("failed"))))
    }

    private func revoke(_ item: Item, reason: RevocationReason, invalidityDate: Date?, actor: String) async -> ResultJSON {
        let ref = item.id ?? item.serial ?? ""
        func result(_ outcome: String, _ id: UUID? = nil, _ code: String? = nil, _ message: String? = nil) -> ResultJSON {
            ResultJSON(ref: ref, id: id?.uuidString.lowercased(), outcome: outcome, error_code: code, message: message)
        }
        do {
            let id: UUID
            switch (item.id, item.serial) {
            case (let text?, nil):
                guard let parsed = UUID(uuidString: text) else { return result("invalid", nil, "invalid_request", "id is not a UUID") }
                id = parsed
            case (nil, let serial?):
                guard let canonical = SerialNumber.canonicalize(serial) else {
                    return result("invalid", nil, "invalid_serial", "serial must be a positive hex number of at most 20 octets")
                }
                var filter = CertificateFilter()
                filter.serialHex = canonical
                filter.issuerID = item.issuer_id
                filter.limit = 2
                let found = try await certificates.list(filter)
                guard let first = found.first else {
                    return result("not_found", nil, "certificate_not_found", "no certificate has serial \(canonical)")
                }
                guard found.count == 1 else {
                    return result("invalid", nil, "ambiguous_serial", "serial \(canonical) exists under several issuers: add issuer_id")
                }
                id = first.id
            default:
                return result("invalid", nil, "invalid_request", "each item names a certificate by id or by serial, not both")
            }
            let changed = try await revocations.revoke(RevocationRequest(
                certificateID: id, reasonCode: reason.rawValue, invalidityDate: invalidityDate, actor: actor, service: "admin"))
            return result(changed ? "revoked" : "already_revoked", id)
        } catch RevocationStoreError.notFound {
            return result("not_found", nil, "certificate_not_found", "certificate \(ref) does not exist")
        } catch RevocationStoreError.notRevocable(let why) {
            return result("invalid", nil, "not_revocable", why)
        } catch {
            // the item's details (SQL text) go to the log only; the caller gets the code and the incident id
            let incident = Incident.record("bulk revocation item failed", error: error, metadata: ["item": "\(ref)"], logger: logger)
            return result("failed", nil, incident.code, incident.message)
        }
    }
}
