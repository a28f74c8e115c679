import CertctlStore
import Hummingbird

/// `accept_renewals_from` of SCEP endpoints and EST labels: the other endpoints (`scep:<name>`,
/// `est:<label>`) whose certificates a renewal there also renews (docs/scep.md#renewal).
enum RenewalSources {
    struct Body: Decodable {
        let accept_renewals_from: [String]
    }

    /// Each entry well-formed and once, at most 32. The names need not exist (yet, or any more):
    /// a deleted endpoint's devices may renew elsewhere.
    static func validated(_ entries: [String]?) throws -> [String] {
        let entries = entries ?? []
        guard entries.count <= EnrollmentEndpoint.maximumAccepted else {
            throw APIError(.badRequest, "invalid_request", "accept_renewals_from lists at most \(EnrollmentEndpoint.maximumAccepted) endpoints")
        }
        for (index, entry) in entries.enumerated() {
            guard EnrollmentEndpoint.isValid(entry) else {
                throw APIError(.badRequest, "invalid_request",
                               "accept_renewals_from entry \(entry) must be scep:<endpoint> or est:<label> (name ^[a-z0-9][a-z0-9_-]{0,62}$)")
            }
            guard !entries[..<index].contains(entry) else {
                throw APIError(.badRequest, "invalid_request", "accept_renewals_from lists \(entry) twice")
            }
        }
        return entries
    }

    /// PATCH of endpoint or label `name` (admin only): replaces its list through `write`, audited as
    /// `<targetType>.update`, and answers what `read` returns afterwards; `notFound` when it does not exist.
    static func update<JSON: Encodable>(_ request: Request, support: APISupport, targetType: String, name: String, notFound: APIError,
                                        write: ([String], AuditRecord) async throws -> Void,
                                        read: () async throws -> JSON?) async throws -> Response {
        let principal = try await support.require(request, [.admin])
        let accepted = try validated(try await APISupport.decode(Body.self, from: request).accept_renewals_from)
        do {
            try await write(accepted, AuditRecord(
                service: "admin", actor: principal.actor, action: "\(targetType).update", outcome: .success, targetType: targetType,
                targetID: name, details: ["accept_renewals_from": accepted.joined(separator: ",")]))
        } catch EnrollmentStoreError.notFound {
            throw notFound
        }
        guard let json = try await read() else { throw notFound }
        return try APISupport.json(json)
    }
}
