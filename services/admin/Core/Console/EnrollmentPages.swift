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

    func add(_ route: ConsoleRoute) {
        route(.get, "/ui/enrollment") { request, _ in try await page(request) }
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
        body += HTML.table(["Name", "Issuer", "Profile", "One-time challenges", "Approval", "Signed-challenge trust anchor"], endpoints.map { e in
            [HTML.escape(e.name), HTML.escape(e.issuerID), HTML.escape(e.profileID), e.allowOneTimeChallenges ? "allowed" : "no",
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
}
