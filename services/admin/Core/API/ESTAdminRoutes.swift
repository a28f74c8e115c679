import CertctlConfig
import CertctlStore
import Foundation
import Hummingbird

/// `/api/v1/est/labels` (EST labels and their HTTP Basic users).
struct ESTAdminRoutes: Sendable {
    let support: APISupport
    let store: EnrollmentESTStore

    struct LabelBody: Decodable {
        let name: String
        let issuer_id: String
        let profile_id: String?
        let allow_basic: Bool?
        let allow_mtls: Bool?
        let trust_anchor: String?
        let require_approval: Bool?
        let accept_renewals_from: [String]?
    }

    struct LabelJSON: Encodable {
        let name: String
        let issuer_id: String
        let profile_id: String
        let allow_basic: Bool
        let allow_mtls: Bool
        let trust_anchor: String?
        let require_approval: Bool
        let accept_renewals_from: [String]
        let path: String

        init(_ r: ESTLabelRecord) {
            name = r.name; issuer_id = r.issuerID; profile_id = r.profileID; allow_basic = r.allowBasic
            allow_mtls = r.allowMTLS; trust_anchor = r.trustAnchor; path = "/.well-known/est/\(r.name)"
            require_approval = r.requireApproval
            accept_renewals_from = r.acceptRenewalsFrom
        }
    }

    struct Items: Encodable { let items: [LabelJSON] }
    struct UserBody: Decodable { let username: String }
    struct UserJSON: Encodable {
        let label: String
        let username: String
        let password: String
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/est/labels") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await store.list().map(LabelJSON.init)))
        }
        router.post("/api/v1/est/labels") { request, _ in
            let principal = try await support.require(request, [.admin])
            let body = try await APISupport.decode(LabelBody.self, from: request)
            guard APISupport.matches(body.name, "^[a-z0-9][a-z0-9_-]{0,62}$") else {
                throw APIError(.badRequest, "invalid_request", "name must match ^[a-z0-9][a-z0-9_-]{0,62}$")
            }
            let label = ESTLabelRecord(name: body.name, issuerID: body.issuer_id, profileID: body.profile_id ?? "default",
                                       allowBasic: body.allow_basic ?? true, allowMTLS: body.allow_mtls ?? false,
                                       trustAnchor: body.trust_anchor, requireApproval: body.require_approval ?? false,
                                       acceptRenewalsFrom: try RenewalSources.validated(body.accept_renewals_from))
            guard label.allowBasic || label.allowMTLS else {
                throw APIError(.badRequest, "invalid_request", "a label needs allow_basic or allow_mtls")
            }
            guard !label.allowMTLS || label.trustAnchor != nil else {
                throw APIError(.badRequest, "invalid_request", "allow_mtls needs trust_anchor (a trust bundle of purpose est-mtls)")
            }
            try APISupport.requireIssuerIDForm(label.issuerID)
            do {
                try await store.create(label, audit: AuditRecord(service: "admin", actor: principal.actor, action: "est_label.create",
                                                                 outcome: .success, targetType: "est_label", targetID: label.name))
            } catch EnrollmentStoreError.exists {
                throw APIError(.conflict, "est_label_exists", "EST label \(label.name) already exists")
            } catch EnrollmentStoreError.missingReference {
                throw APIError(.unprocessableContent, "invalid_reference",
                               "issuer \(label.issuerID), certificate profile \(label.profileID) or trust anchor (of purpose est-mtls) does not exist")
            }
            return try APISupport.json(LabelJSON(label), status: .created)
        }
        // Only accept_renewals_from can change; everything else is set when the label is created.
        router.patch("/api/v1/est/labels/:name") { request, context in
            let name = context.parameters.get("name") ?? ""
            return try await RenewalSources.update(request, support: support, targetType: "est_label", name: name, notFound: Self.notFound(name),
                                                   write: { try await store.setAcceptRenewalsFrom(name, $0, audit: $1) },
                                                   read: { try await store.get(name).map(LabelJSON.init) })
        }
        // Creates the user or replaces its password; the password is returned once and stored hashed.
        router.post("/api/v1/est/labels/:name/users") { request, context in
            let principal = try await support.require(request, [.admin])
            let name = context.parameters.get("name") ?? ""
            let body = try await APISupport.decode(UserBody.self, from: request)
            guard APISupport.matches(body.username, "^[A-Za-z0-9._@-]{1,128}$") else {
                throw APIError(.badRequest, "invalid_request", "username must match ^[A-Za-z0-9._@-]{1,128}$")
            }
            let password = Hex.random(octets: 16)
            do {
                try await store.setUser(label: name, username: body.username, passwordHash: EnrollmentESTStore.hashPassword(password),
                                        audit: AuditRecord(service: "admin", actor: principal.actor, action: "est_user.set",
                                                           outcome: .success, targetType: "est_label", targetID: name,
                                                           details: ["username": body.username]))
            } catch EnrollmentStoreError.notFound {
                throw Self.notFound(name)
            }
            return try APISupport.json(UserJSON(label: name, username: body.username, password: password), status: .created)
        }
    }

    static func notFound(_ name: String) -> APIError {
        APIError(.notFound, "est_label_not_found", "EST label \(name) does not exist")
    }
}
