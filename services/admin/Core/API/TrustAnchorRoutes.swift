import CertctlStore
import Foundation
import Hummingbird

/// `/api/v1/admin/trust-anchors`: trust bundles (EST mTLS) and their reload on every enrollment replica.
struct TrustAnchorRoutes: Sendable {
    let support: APISupport
    let store: TrustAnchorStore

    struct AnchorBody: Decodable {
        let name: String
        let purpose: String?
        let path: String
    }

    struct AnchorJSON: Encodable {
        let name: String
        let purpose: String
        let path: String
        let sha256: String?
        let certificate_count: Int?
        let last_reload_error: String?

        init(_ r: TrustAnchorRecord) {
            name = r.name; purpose = r.purpose; path = r.path; sha256 = r.sha256
            certificate_count = r.certificateCount; last_reload_error = r.lastReloadError
        }
    }

    struct Items: Encodable { let items: [AnchorJSON] }

    struct ResultJSON: Encodable {
        let replica: String
        let ok: Bool
        let error: String?
        let message: String?
        let certificate_count: Int?
        let sha256: String?
    }

    struct ReloadJSON: Encodable {
        let name: String
        let reload_id: Int64
        let replicas: [ResultJSON]
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/admin/trust-anchors") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await store.list().map(AnchorJSON.init)))
        }
        router.post("/api/v1/admin/trust-anchors") { request, _ in
            let principal = try await support.require(request, [.admin])
            let body = try await APISupport.decode(AnchorBody.self, from: request)
            guard APISupport.matches(body.name, "^[a-z0-9][a-z0-9_-]{0,62}$") else {
                throw APIError(.badRequest, "invalid_request", "name must match ^[a-z0-9][a-z0-9_-]{0,62}$")
            }
            let purpose = body.purpose ?? "est-mtls"
            guard ["est-mtls", "scep-signed-challenge"].contains(purpose) else {
                throw APIError(.badRequest, "invalid_request", "purpose must be est-mtls or scep-signed-challenge")
            }
            guard body.path.hasPrefix("/") else { throw APIError(.badRequest, "invalid_request", "path must be absolute (read by certctl-enroll)") }
            let anchor = TrustAnchorRecord(name: body.name, purpose: purpose, path: body.path)
            do {
                try await store.create(anchor, audit: AuditRecord(service: "admin", actor: principal.actor, action: "trust_anchor.create",
                                                                  outcome: .success, targetType: "trust_anchor", targetID: anchor.name))
            } catch EnrollmentStoreError.exists {
                throw APIError(.conflict, "trust_anchor_exists", "trust anchor \(anchor.name) already exists")
            }
            return try APISupport.json(AnchorJSON(anchor), status: .created)
        }
        // NOTIFY every enrollment replica, then wait up to `wait_ms` (default 3000) for their answers.
        router.post("/api/v1/admin/trust-anchors/:name/reload") { request, context in
            let principal = try await support.require(request, [.admin])
            let name = context.parameters.get("name") ?? ""
            var waitMS = 3000
            if let text = request.uri.queryParameters["wait_ms"] {
                guard let value = Int(String(text)), (100...30_000).contains(value) else {
                    throw APIError(.badRequest, "invalid_request", "wait_ms must be an integer from 100 to 30000")
                }
                waitMS = value
            }
            let (id, results) = try await reload(name, by: principal, waitMS: waitMS)
            let body = ReloadJSON(name: name, reload_id: id, replicas: results.map {
                ResultJSON(replica: $0.replica, ok: $0.ok, error: $0.errorCode, message: $0.errorMessage,
                           certificate_count: $0.certificateCount, sha256: $0.sha256)
            })
            let status: HTTPResponse.Status = results.allSatisfy(\.ok) ? .ok : .unprocessableContent
            return try APISupport.json(body, status: status)
        }
    }

    /// Asks every enrollment replica to reload `name` (NOTIFY) and waits up to `waitMS` for their answers:
    /// for the API and the web console's reload dialog. 404 for an unknown anchor, 504 when no replica answered.
    func reload(_ name: String, by principal: Principal, waitMS: Int) async throws -> (Int64, [TrustAnchorReloadResult]) {
        guard try await store.get(name) != nil else {
            throw APIError(.notFound, "trust_anchor_not_found", "trust anchor \(name) does not exist")
        }
        let id = try await store.requestReload(name: name, requestedBy: principal.actor, audit: AuditRecord(
            service: "admin", actor: principal.actor, action: "trust_anchor.reload", outcome: .success,
            targetType: "trust_anchor", targetID: name))
        let deadline = ContinuousClock.now + .milliseconds(waitMS)
        var results = try await store.results(reloadID: id)
        // Replicas answer independently; after the first answer give the others a short grace period.
        var firstSeen: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            if !results.isEmpty, firstSeen == nil { firstSeen = .now }
            if let firstSeen, firstSeen.duration(to: .now) > .milliseconds(500) { break }
            try await Task.sleep(for: .milliseconds(100))
            results = try await store.results(reloadID: id)
        }
        guard !results.isEmpty else {
            throw APIError(.gatewayTimeout, "no_replica_answered", "no enrollment replica reported within \(waitMS) ms (reload \(id))")
        }
        return (id, results)
    }
}
