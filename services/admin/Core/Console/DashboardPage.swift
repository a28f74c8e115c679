import CertctlStore
import Foundation
import Hummingbird

/// /ui/: per issuer and key generation, the CA's not-after and the last CRL; recent CRL failures, OCSP responder
/// certificates, pending approvals and the last day's issuance and revocation counts.
struct DashboardPage: Sendable {
    let auth: ConsoleAuth
    let store: ConsoleDashboardStore

    func render(_ request: Request) async throws -> Response {
        let session = try await auth.session(request)
        let data = try await store.load()
        let now = Date()
        var body = """
            <div class="card"><p>
            <strong>\(data.issuedLastDay)</strong> certificates issued and <strong>\(data.revokedLastDay)</strong> revoked in the last 24 h;
            <strong>\(data.failedLastDay)</strong> issuances failed.
            <a href="/ui/approvals"><strong>\(data.pendingApprovals)</strong> enrollment request\(data.pendingApprovals == 1 ? "" : "s") waiting for approval</a>.
            </p></div>
            <h2>Issuers and key generations</h2>
            """
        body += HTML.table(["Issuer", "Generation", "Status", "CA not after", "Last CRL number", "CRL age", "CRL nextUpdate"], data.generations.map { g in
            let overdue = g.crlNextUpdate.map { $0 < now } ?? false
            return ["\(HTML.escape(g.displayName)) <code>\(HTML.escape(g.issuerID))</code>", String(g.generation), HTML.escape(g.status),
                    HTML.date(g.notAfter) + " <span class=\"muted\">\(HTML.relative(g.notAfter, now: now))</span>",
                    HTML.escape(g.crlNumber ?? "none yet"),
                    g.crlThisUpdate.map { _ in HTML.relative(g.crlThisUpdate, now: now) } ?? "—",
                    HTML.date(g.crlNextUpdate) + (overdue ? " <span class=\"status failed\">overdue</span>" : "")]
        }, empty: "No issuer yet.")
        body += "<h2>CRL generation failures (7 days)</h2>"
        body += HTML.table(["When", "Issuer", "Generation", "Error"], data.crlFailures.map { f in
            [HTML.date(f.startedAt), HTML.escape(f.issuerID), f.generation.map(String.init) ?? "", HTML.escape(f.error)]
        }, empty: "No CRL generation failed in the last 7 days.")
        body += "<h2>OCSP responder certificates</h2>"
        body += HTML.table(["Issuer", "Generation", "Responder key (replica)", "Serial", "Not after"], data.responders.map { r in
            [HTML.escape(r.issuerID), String(r.generation), "<code>\(HTML.escape(r.keyID))</code>", "<code>\(HTML.escape(r.serialHex))</code>",
             HTML.date(r.notAfter) + " <span class=\"muted\">\(HTML.relative(r.notAfter, now: now))</span>"]
        }, empty: "No OCSP responder certificate yet (one is made when an OCSP replica first signs).")
        return ConsolePage(title: "Dashboard", body: body, session: session, section: "dashboard").response()
    }
}
