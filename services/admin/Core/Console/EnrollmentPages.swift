import CertctlStore
import Foundation
import Hummingbird

/// SCEP endpoints, EST labels and their trust anchors, with "Reload trust anchor": a result page that works
/// without JavaScript, shown in a modal dialog when JavaScript runs (console.js).
struct EnrollmentPages: Sendable {
    let auth: ConsoleAuth
    let scep: EnrollmentSCEPStore
    let est: EnrollmentESTStore
    let anchors: TrustAnchorRoutes
    let challenges: SCEPAdminRoutes

    func add(_ route: ConsoleRoute) {
        route(.get, "/ui/enrollment") { request, _ in try await page(request) }
        route(.get, "/ui/scep/:name/challenge") { request, context in try await challengePage(request, context) }
        route(.post, "/ui/scep/:name/challenge") { request, context in try await mintChallenge(request, context) }
        route(.post, "/ui/trust-anchors/:name/reload") { request, context in try await reload(request, context) }
    }

    func reloadButton(_ anchor: String?, _ session: ConsoleSession) -> String {
        guard let anchor else { return "—" }
        var html = "<code>\(HTML.escape(anchor))</code>"
        if session.principal.role == .admin {
            html += """
                 <form method="post" action="/ui/trust-anchors/\(HTML.escape(HTML.query(anchor)))/reload" class="inline reload-form">\(HTML.csrf(session))\
                <button type="submit" data-reload="\(HTML.escape(anchor))">Reload trust anchor</button></form>
                """
        }
        return html
    }

    func page(_ request: Request) async throws -> Response {
        let session = try await auth.session(request)
        let endpoints = try await scep.list()
        let labels = try await est.list()
        let bundles = try await anchors.store.list()
        var body = "<h2>SCEP endpoints</h2>"
        let canMint = CertificatePages.writers.contains(session.principal.role)
        body += HTML.table(["Name", "Issuer", "Profile", "One-time challenges", "Approval", "Signed-challenge trust anchor"], endpoints.map { e in
            var oneTime = e.allowOneTimeChallenges ? "allowed" : "no"
            if e.allowOneTimeChallenges, canMint {
                oneTime += " <a class=\"button\" href=\"/ui/scep/\(HTML.escape(HTML.query(e.name)))/challenge\">Mint challenge</a>"
            }
            return [HTML.escape(e.name), HTML.escape(e.issuerID), HTML.escape(e.profileID), oneTime,
                    e.requireApproval ? "required" : "no", reloadButton(e.signedChallengeTrustAnchor, session)]
        }, empty: "No SCEP endpoint.")
        body += "<h2>EST labels</h2>"
        body += HTML.table(["Label", "Issuer", "Profile", "HTTP Basic", "mTLS", "Approval", "Trust anchor"], labels.map { l in
            [HTML.escape(l.name), HTML.escape(l.issuerID), HTML.escape(l.profileID), l.allowBasic ? "yes" : "no", l.allowMTLS ? "yes" : "no",
             l.requireApproval ? "required" : "no", reloadButton(l.trustAnchor, session)]
        }, empty: "No EST label.")
        body += "<h2>Trust anchors</h2>"
        body += HTML.table(["Name", "Purpose", "Path", "Certificates", "SHA-256", "Last reload error", ""], bundles.map { a in
            [HTML.escape(a.name), HTML.escape(a.purpose), "<code>\(HTML.escape(a.path))</code>", a.certificateCount.map(String.init) ?? "—",
             "<code>\(HTML.escape(String((a.sha256 ?? "").prefix(16))))</code>", HTML.escape(a.lastReloadError ?? ""),
             session.principal.role == .admin ? reloadButton(a.name, session) : ""]
        }, empty: "No trust anchor.")
        body += "<dialog id=\"reload-modal\" aria-labelledby=\"reload-title\"><div id=\"reload-modal-body\"></div><form method=\"dialog\"><button type=\"submit\" id=\"reload-close\">Close</button></form></dialog>"
        return ConsolePage(title: "SCEP endpoints and EST labels", body: body, session: session, section: "enrollment").response()
    }

    func reload(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, _) = try await auth.submit(request, [.admin])
        let name = context.parameters.get("name") ?? ""
        var status = HTTPResponse.Status.ok
        var body = "<section id=\"reload-result\"><h2 id=\"reload-title\">Reload of trust anchor \(HTML.escape(name))</h2>"
        do {
            let (id, results) = try await anchors.reload(name, by: session.principal, waitMS: 3000)
            let refused = results.filter { !$0.ok }
            if refused.isEmpty {
                body += HTML.notice("Every replica that answered (\(results.count)) loaded the new bundle.")
            } else {
                status = .unprocessableContent
                body += HTML.notice("\(refused.count) of \(results.count) replica\(results.count == 1 ? "" : "s") refused the new bundle. The old pool keeps serving there: enrollment with the previous trust anchors still works. Fix the file and reload again.", kind: "error")
            }
            body += HTML.table(["Replica", "Result", "Error", "Message", "Certificates", "SHA-256"], results.map { r in
                [HTML.escape(r.replica), r.ok ? "<span class=\"status issued\">loaded</span>" : "<span class=\"status failed\">refused</span>",
                 r.errorCode.map { "<code class=\"error-code\">\(HTML.escape($0))</code>" } ?? "", HTML.escape(r.errorMessage ?? ""),
                 r.certificateCount.map(String.init) ?? "", "<code>\(HTML.escape(String((r.sha256 ?? "").prefix(16))))</code>"]
            })
            body += "<p class=\"muted\">Reload \(id).</p>"
        } catch let error as APIError {
            status = error.status
            body += HTML.notice("\(error.message) (\(error.code)). The old pool keeps serving.", kind: "error")
        }
        body += "</section><p><a href=\"/ui/enrollment\">Back to SCEP endpoints and EST labels</a></p>"
        return ConsolePage(title: "Trust anchor reload", body: body, session: session, status: status, section: "enrollment").response()
    }

    // MARK: One-time SCEP challenges

    func challengePage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await auth.require(request, CertificatePages.writers)
        let name = context.parameters.get("name") ?? ""
        guard let endpoint = try await scep.get(name) else { throw SCEPAdminRoutes.notFound(name) }
        return renderChallenge(session, endpoint, minted: nil, values: ["ttl_seconds": "3600"], errors: [:])
    }

    func renderChallenge(_ session: ConsoleSession, _ endpoint: SCEPEndpointRecord, minted: SCEPAdminRoutes.ChallengeJSON?,
                         values: [String: String], errors: [String: String], status: HTTPResponse.Status = .ok) -> Response {
        var body = ""
        if let minted {
            body += """
                <div class="card secret" role="status"><h2>One-time challenge for \(HTML.escape(minted.profile))</h2>
                <p>Copy it now: it is shown this once and certctl keeps only a hash. It is good for one enrollment \
                until \(HTML.date(minted.expires_at)).</p>
                <label for="challenge-secret">Challenge password</label>\
                <input id="challenge-secret" class="secret-value" readonly value="\(HTML.escape(minted.challenge))">
                <dl class="facts"><dt>Challenge id</dt><dd><code>\(HTML.escape(minted.id))</code></dd>
                <dt>Expected subject</dt><dd>\(HTML.escape(minted.expected_subject ?? "any"))</dd>
                <dt>Expected SANs</dt><dd>\(HTML.escape(minted.expected_sans?.joined(separator: ", ") ?? "any"))</dd></dl></div>
                <p><a href="/ui/enrollment">Back to SCEP endpoints and EST labels</a></p>
                """
            return ConsolePage(title: "SCEP challenge minted", body: body, session: session, status: status, section: "enrollment").response()
        }
        body += "<p>A one-time challenge password lets one device enroll on SCEP endpoint <code>\(HTML.escape(endpoint.name))</code> "
        body += "(<code>/scep/\(HTML.escape(endpoint.name))</code>). Optionally pin the subject and SANs the CSR must carry.</p>"
        if let error = errors["form"] { body += HTML.notice(error, kind: "error") }
        body += """
            <form method="post" action="/ui/scep/\(HTML.escape(HTML.query(endpoint.name)))/challenge" class="card narrow">\(HTML.csrf(session))
            \(HTML.field("Valid for (seconds, 60 to 2592000)", name: "ttl_seconds", value: values["ttl_seconds"] ?? "", type: "number",
                         required: true, error: errors["ttl_seconds"], extra: "inputmode=\"numeric\""))
            \(HTML.field("Expected subject (optional, e.g. CN=device-17)", name: "expected_subject", value: values["expected_subject"] ?? "",
                         error: errors["expected_subject"]))
            \(HTML.textarea("Expected SANs (optional)", name: "expected_sans", value: values["expected_sans"] ?? "", error: errors["expected_sans"],
                            hint: "One per line as TYPE:value: DNS:host.example.com, IP:10.0.0.1, email:a@example.com, URI:…"))
            <button type="submit" class="primary" id="mint">Mint challenge</button></form>
            """
        return ConsolePage(title: "Mint an SCEP challenge", body: body, session: session, status: status, section: "enrollment").response()
    }

    func mintChallenge(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, form) = try await auth.submit(request, CertificatePages.writers)
        let name = context.parameters.get("name") ?? ""
        guard let endpoint = try await scep.get(name) else { throw SCEPAdminRoutes.notFound(name) }
        let values = form.values.filter { ["ttl_seconds", "expected_subject", "expected_sans"].contains($0.key) }
        do {
            var ttl: Int?
            if let text = form.text("ttl_seconds") {
                guard let value = Int(text) else { throw APIError(.badRequest, "invalid_request", "ttl_seconds must be a whole number") }
                ttl = value
            }
            let sans = (form["expected_sans"] ?? "").split(whereSeparator: { $0.isNewline || $0 == "," })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let minted = try await challenges.mintChallenge(
                name, SCEPAdminRoutes.ChallengeBody(ttl_seconds: ttl, expected_subject: form.text("expected_subject"),
                                                    expected_sans: sans.isEmpty ? nil : sans),
                by: session.principal)
            return renderChallenge(session, endpoint, minted: minted, values: [:], errors: [:], status: .created)
        } catch let error as APIError where error.status == .badRequest {
            let field = ["ttl_seconds", "expected_sans"].first { error.message.hasPrefix($0) } ?? "form"
            return renderChallenge(session, endpoint, minted: nil, values: values, errors: [field: error.message], status: .badRequest)
        }
    }
}
