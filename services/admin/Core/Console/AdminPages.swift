import CertctlConfig
import CertctlStore
import Foundation
import Hummingbird
import Logging
import PostgresNIO

typealias ConsoleRoute = (HTTPRequest.Method, RouterPath, @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) -> Void

/// Enrollment approvals, API keys and the audit log: the same route logic as /api/v1, with the session's principal.
struct AdminPages: Sendable {
    let auth: ConsoleAuth
    let approvals: EnrollmentRequestRoutes
    let keys: APIKeyRoutes
    let chain: AuditChain
    let client: DatabaseClient
    let logger: Logger

    func add(_ route: ConsoleRoute) {
        route(.get, "/ui/approvals") { request, _ in try await approvalsPage(request) }
        route(.post, "/ui/approvals/:id/approve") { request, context in try await decide(request, context, approve: true) }
        route(.post, "/ui/approvals/:id/reject") { request, context in try await decide(request, context, approve: false) }
        route(.get, "/ui/api-keys") { request, _ in try await keysPage(request) }
        route(.post, "/ui/api-keys") { request, _ in try await createKey(request) }
        route(.post, "/ui/api-keys/:id/revoke") { request, context in try await revokeKey(request, context) }
        route(.get, "/ui/audit") { request, _ in try await auditPage(request) }
    }

    // MARK: Approvals

    func approvalsPage(_ request: Request, notice: String? = nil) async throws -> Response {
        let session = try await auth.session(request)
        var filter = EnrollmentRequestFilter()
        filter.status = .pending
        filter.limit = 200
        let pending = try await approvals.store.list(filter)
        let canDecide = CertificatePages.writers.contains(session.principal.role)
        var body = notice.map { HTML.notice($0) } ?? ""
        body += "<p>Requests held by SCEP endpoints and EST labels that require approval. Approving issues the certificate.</p>"
        let rows = pending.map { r -> [String] in
            let id = r.id.uuidString.lowercased()
            var actions = ""
            if canDecide {
                actions = """
                    <form method="post" action="/ui/approvals/\(id)/approve" class="inline">\(HTML.csrf(session))<button type="submit" class="primary">Approve</button></form>
                    <form method="post" action="/ui/approvals/\(id)/reject" class="inline">\(HTML.csrf(session))<label for="reason-\(id)">Reason</label>\
                    <input id="reason-\(id)" name="reason" required maxlength="1000"><button type="submit" class="danger">Reject</button></form>
                    """
            }
            return [HTML.date(r.createdAt), HTML.escape("\(r.protocolName.uppercased()) \(r.endpoint)"), HTML.escape(r.subject),
                    HTML.escape(r.subjectAltNames.joined(separator: ", ")), HTML.escape(r.requester), HTML.escape(r.profileID), actions]
        }
        body += HTML.table(["Received", "Endpoint", "Subject", "SANs", "Requester", "Profile", canDecide ? "Decision" : ""], rows,
                           empty: "No request is waiting for approval.")
        return ConsolePage(title: "Enrollment approvals", body: body, session: session, section: "approvals").response()
    }

    func decide(_ request: Request, _ context: BasicRequestContext, approve: Bool) async throws -> Response {
        let (session, form) = try await auth.submit(request, CertificatePages.writers)
        let id = try EnrollmentRequestRoutes.requestID(context)
        if approve {
            let record = try await approvals.approve(id, by: session.principal)
            if let certificate = record.certificateID {
                throw ConsoleRedirect(location: "/ui/certificates/\(certificate.uuidString.lowercased())")
            }
        } else {
            _ = try await approvals.reject(id, by: session.principal, reason: form["reason"] ?? "")
        }
        throw ConsoleRedirect(location: "/ui/approvals")
    }

    // MARK: API keys

    func keysPage(_ request: Request) async throws -> Response {
        let session = try await auth.require(request, [.admin])
        return try await renderKeys(session, created: nil, errors: [:], values: [:])
    }

    func renderKeys(_ session: ConsoleSession, created: (APIKeyRecord, String)?, errors: [String: String], values: [String: String],
                    status: HTTPResponse.Status = .ok) async throws -> Response {
        var body = ""
        if let (record, secret) = created {
            body += """
                <div class="card secret" role="status"><h2>Key created for \(HTML.escape(record.actor))</h2>
                <p>Copy it now: it is shown this once and certctl keeps only a hash.</p>
                <label for="new-key">New API key</label><input id="new-key" class="secret-value" readonly value="\(HTML.escape(secret))"></div>
                """
        }
        if let error = errors["form"] { body += HTML.notice(error, kind: "error") }
        let records = try await keys.keys.list(includeRevoked: true)
        let rows = records.map { r -> [String] in
            let id = r.id.uuidString.lowercased()
            let revoke = r.revokedAt == nil ? """
                <form method="post" action="/ui/api-keys/\(id)/revoke" class="inline">\(HTML.csrf(session))<button type="submit" class="danger">Revoke</button></form>
                """ : "revoked \(HTML.date(r.revokedAt))"
            return [HTML.escape(r.actor), HTML.escape(r.role.rawValue), "<code>\(HTML.escape(r.keyPrefix))…</code>", HTML.escape(r.description),
                    HTML.date(r.createdAt), HTML.date(r.lastUsedAt), HTML.date(r.expiresAt), revoke]
        }
        body += HTML.table(["Actor", "Role", "Prefix", "Description", "Created", "Last used", "Expires", "State"], rows)
        body += """
            <h2>Create a key</h2>
            <form method="post" action="/ui/api-keys" class="card narrow">\(HTML.csrf(session))
            \(HTML.field("Actor (who uses it)", name: "actor", value: values["actor"] ?? "", required: true, error: errors["actor"]))
            \(HTML.select("Role", name: "role", options: APIRole.allCases.map { ($0.rawValue, $0.rawValue) }, selected: values["role"] ?? "operator", error: errors["role"]))
            \(HTML.field("Description", name: "description", value: values["description"] ?? "", error: errors["description"]))
            <button type="submit" class="primary">Create key</button></form>
            """
        return ConsolePage(title: "API keys", body: body, session: session, status: status, section: "keys").response()
    }

    func createKey(_ request: Request) async throws -> Response {
        let (session, form) = try await auth.submit(request, [.admin])
        let values = form.values.filter { ["actor", "role", "description"].contains($0.key) }
        do {
            let created = try await keys.create(
                APIKeyRoutes.CreateBody(actor: form["actor"] ?? "", role: form["role"] ?? "", description: form["description"], expires_at: nil),
                by: session.principal)
            return try await renderKeys(session, created: created, errors: [:], values: [:], status: .created)
        } catch let error as APIError where error.status == .badRequest {
            let field = ["actor", "role", "description"].first { error.message.hasPrefix($0) } ?? "form"
            return try await renderKeys(session, created: nil, errors: [field: error.message], values: values, status: .badRequest)
        }
    }

    func revokeKey(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, _) = try await auth.submit(request, [.admin])
        let id = try APIKeyRoutes.keyID(context)
        do {
            _ = try await keys.keys.revoke(id, by: session.principal.actor, service: "admin")
        } catch let error as APIKeyStoreError {
            throw APIKeyRoutes.apiError(error, id)
        }
        throw ConsoleRedirect(location: "/ui/api-keys")
    }

    // MARK: Audit

    func auditPage(_ request: Request) async throws -> Response {
        let session = try await auth.require(request, [.admin, .auditor])
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? {
            query[name[...]].map { String($0).trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let before = value("before").flatMap { Int64($0) }
        let events = try await AuditLog.list(client: client, targetID: value("target_id"), action: value("action"), limit: 100,
                                             beforeID: before, logger: logger)
        try await chain.sealAll()
        let head = try await chain.head()
        let verification = try await chain.verify(fromSeq: max(1, head.seq - 9_999), limit: 10_000)
        var body = ""
        if verification.ok {
            body += HTML.notice("Audit chain verified: \(verification.checked) most recent links hold up to sequence \(verification.headSeq) (head hash \(Hex.string(head.hash).prefix(16))…).")
        } else if let broken = verification.firstBroken {
            body += HTML.notice("Audit chain BROKEN at sequence \(broken.seq): \(broken.reason). Run certctl-admin audit verify and see docs/audit.md.", kind: "error")
        }
        body += """
            <form method="get" action="/ui/audit" class="card search" role="search">
            \(HTML.field("Action (exact, e.g. certificate.revoke)", name: "action", value: value("action") ?? ""))
            \(HTML.field("Target id", name: "target_id", value: value("target_id") ?? ""))
            <button type="submit" class="primary">Filter</button></form>
            """
        let rows = events.map { e -> [String] in
            [String(e.id), HTML.date(e.occurredAt), HTML.escape(e.actor), HTML.escape(e.action),
             "<span class=\"status \(HTML.escape(e.outcome))\">\(HTML.escape(e.outcome))</span>",
             HTML.escape([e.targetType, e.targetID].compactMap { $0 }.joined(separator: " ")),
             HTML.escape(e.errorCode ?? ""), "<code class=\"wrap\">\(HTML.escape(e.detailsJSON))</code>"]
        }
        body += HTML.table(["#", "When", "Actor", "Action", "Outcome", "Target", "Error", "Details"], rows, empty: "No audit event matches.")
        if events.count == 100, let last = events.last {
            var parts = ["before=\(last.id)"]
            if let action = value("action") { parts.append("action=\(HTML.query(action))") }
            if let target = value("target_id") { parts.append("target_id=\(HTML.query(target))") }
            body += "<p><a class=\"button\" href=\"/ui/audit?\(HTML.escape(parts.joined(separator: "&")))\">Older events</a></p>"
        }
        return ConsolePage(title: "Audit log", body: body, session: session, section: "audit").response()
    }
}
