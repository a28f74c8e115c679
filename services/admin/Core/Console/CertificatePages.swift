import CertctlIssuance
import CertctlPKI
import CertctlStore
import Foundation
import Hummingbird
import SwiftASN1
import X509

/// /ui/certificates: search with paging, detail (decoded fields, extensions, chain), PEM download,
/// revoke (reason, then a confirmation step), export (the API's export logic, audited and rate-limited).
struct CertificatePages: Sendable {
    let auth: ConsoleAuth
    let certificates: CertificateRecordStore
    let revocations: RevocationStore
    let generations: IssuerGenerationStore
    let profiles: ProfileStore
    let export: CertificateExportRoutes

    static let pageSize = 50
    static let writers: Set<APIRole> = [.admin, .operator]

    func search(_ request: Request) async throws -> Response {
        let session = try await auth.session(request)
        let query = request.uri.queryParameters
        func value(_ name: String) -> String {
            query[name[...]].map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        var filter = CertificateFilter()
        filter.limit = Self.pageSize
        var errors: [String: String] = [:]
        let serial = value("serial"), text = value("q"), status = value("status"), profile = value("profile")
        let expiresWithin = value("expires_within_days"), cursor = value("cursor")
        if !serial.isEmpty {
            if let canonical = SerialNumber.canonicalize(serial) { filter.serialHex = canonical } else {
                errors["serial"] = "A serial is a positive hex number of at most 20 octets (colons, spaces, 0x and any case are fine)."
            }
        }
        if !text.isEmpty { filter.text = text }
        if !status.isEmpty {
            if ["pending", "issued", "failed", "revoked"].contains(status) { filter.status = status } else { errors["status"] = "Pick a status from the list." }
        }
        if !profile.isEmpty { filter.profileID = profile }
        if !expiresWithin.isEmpty {
            if let days = Int(expiresWithin), (0...36500).contains(days) {
                filter.expiringBefore = Date().addingTimeInterval(Double(days) * 86400)
            } else {
                errors["expires_within_days"] = "Enter a whole number of days from 0 to 36500."
            }
        }
        if !cursor.isEmpty {
            if let after = UUID(uuidString: cursor) { filter.after = after } else { errors["cursor"] = "That page link is not valid." }
        }
        let profileOptions = [("", "any")] + (try await profiles.list()).map { ($0.id, $0.id) }
        var body = """
            <form method="get" action="/ui/certificates" class="card search" role="search">
            \(HTML.field("Serial (hex, any form)", name: "serial", value: serial, error: errors["serial"]))
            \(HTML.field("Subject or SAN contains", name: "q", value: text))
            \(HTML.select("Status", name: "status", options: [("", "any"), ("issued", "issued"), ("revoked", "revoked"), ("pending", "pending"), ("failed", "failed")], selected: status, error: errors["status"]))
            \(HTML.select("Profile", name: "profile", options: profileOptions, selected: profile))
            \(HTML.field("Expires within (days)", name: "expires_within_days", value: expiresWithin, type: "number", error: errors["expires_within_days"], extra: "min=\"0\" max=\"36500\""))
            <button type="submit" class="primary">Search</button>
            </form>
            """
        if let error = errors["cursor"] { body += HTML.notice(error, kind: "error") }
        guard errors.isEmpty else {
            return ConsolePage(title: "Certificates", body: body, session: session, status: .badRequest, section: "certificates").response()
        }
        let records = try await certificates.list(filter)
        let rows = records.map { r -> [String] in
            let id = r.id.uuidString.lowercased()
            return ["<a href=\"/ui/certificates/\(id)\"><code>\(HTML.escape(r.serialHex))</code></a>",
                    HTML.escape(r.subject), HTML.escape(r.subjectAltNames.joined(separator: ", ")),
                    "<span class=\"status \(HTML.escape(r.status))\">\(HTML.escape(r.status))</span>",
                    HTML.escape(r.profileID ?? ""), HTML.escape(r.issuerID), HTML.date(r.notAfter)]
        }
        body += "<p class=\"count\">\(records.count) certificate\(records.count == 1 ? "" : "s") on this page.</p>"
        body += HTML.table(["Serial", "Subject", "SANs", "Status", "Profile", "Issuer", "Not after"], rows,
                           empty: "No certificate matches.")
        if records.count == filter.limit, let last = records.last {
            var parts: [String] = []
            for (name, v) in [("serial", serial), ("q", text), ("status", status), ("profile", profile), ("expires_within_days", expiresWithin)]
            where !v.isEmpty { parts.append("\(name)=\(HTML.query(v))") }
            parts.append("cursor=\(last.id.uuidString.lowercased())")
            body += "<p><a class=\"button\" href=\"/ui/certificates?\(HTML.escape(parts.joined(separator: "&")))\">Next page</a></p>"
        }
        return ConsolePage(title: "Certificates", body: body, session: session, section: "certificates").response()
    }

    private func find(_ context: BasicRequestContext) async throws -> CertificateRecord {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text), let record = try await certificates.get(id) else {
            throw ConsoleError(.notFound, "Certificate not found", "There is no certificate with this id.")
        }
        return record
    }


    func detail(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await auth.session(request)
        let record = try await find(context)
        let id = record.id.uuidString.lowercased()
        var body = ""
        switch request.uri.queryParameters["done"].map(String.init) {
        case "revoked": body += HTML.notice("The certificate is revoked. OCSP answers revoked now; the CRL follows within seconds.")
        case "unchanged": body += HTML.notice("The certificate was already revoked with this reason: nothing changed.")
        default: break
        }
        var facts: [(String, String)] = [
            ("Serial", "<code>\(HTML.escape(record.serialHex))</code>"),
            ("Status", "<span class=\"status \(HTML.escape(record.status))\">\(HTML.escape(record.status))</span>"),
            ("Subject", HTML.escape(record.subject)),
            ("Subject alternative names", HTML.escape(record.subjectAltNames.joined(separator: ", "))),
            ("Issuer", HTML.escape(record.issuerID) + (record.issuerGeneration.map { " (key generation \($0))" } ?? "")),
            ("Profile", HTML.escape(record.profileID ?? "")),
            ("Not before", HTML.date(record.notBefore)),
            ("Not after", HTML.date(record.notAfter) + " <span class=\"muted\">\(HTML.relative(record.notAfter))</span>"),
            ("Requested by", HTML.escape(record.requestedBy)),
            ("Created", HTML.date(record.createdAt)),
        ]
        if let endpoint = record.enrollmentEndpoint { facts.append(("Enrolled through", HTML.escape(endpoint))) }
        if let failure = record.failureReason { facts.append(("Failure", HTML.escape(failure))) }
        if let revocation = record.revocation {
            let reason = RevocationReason(rawValue: revocation.reasonCode)?.name ?? "\(revocation.reasonCode)"
            facts.append(("Revoked", "\(HTML.date(revocation.revokedAt)) by \(HTML.escape(revocation.revokedBy)), reason \(HTML.escape(reason))"))
        }
        body += "<dl class=\"facts\">" + facts.map { "<dt>\(HTML.escape($0.0))</dt><dd>\($0.1)</dd>" }.joined() + "</dl>"

        if let der = record.certificateDER {
            let leafPEM = PEM.certificate(der)
            if let certificate = try? Certificate(derEncoded: der) {
                body += "<h2>Decoded</h2><dl class=\"facts\">"
                body += "<dt>Subject (as encoded)</dt><dd>\(HTML.escape(String(describing: certificate.subject)))</dd>"
                body += "<dt>Issuer name</dt><dd>\(HTML.escape(String(describing: certificate.issuer)))</dd>"
                body += "<dt>Public key</dt><dd>\(HTML.escape(Self.keyDescription(certificate.publicKey)))</dd>"
                body += "<dt>Signature algorithm</dt><dd>\(HTML.escape(String(describing: certificate.signatureAlgorithm)))</dd></dl>"
                let rows = certificate.extensions.map { ext -> [String] in
                    [HTML.escape(Self.extensionName(ext.oid)), ext.critical ? "yes" : "no", "<code class=\"wrap\">\(HTML.escape(String(describing: ext)))</code>"]
                }
                body += "<h2>Extensions</h2>" + HTML.table(["Extension", "Critical", "Value"], rows, empty: "No extensions.")
            }
            var chain = [("This certificate", leafPEM)]
            if let issuer = try await CertificateRoutes.issuerCertificate(of: record, generations: generations) {
                let name = (try? Certificate(derEncoded: issuer)).map { String(describing: $0.subject) } ?? record.issuerID
                chain.append(("Issuer: \(name)", PEM.certificate(issuer)))
            }
            body += "<h2>Chain</h2><ol class=\"chain\">"
            for (label, pem) in chain {
                body += "<li><details><summary>\(HTML.escape(label))</summary><pre>\(HTML.escape(pem))</pre></details></li>"
            }
            body += "</ol><p><a class=\"button\" href=\"/ui/certificates/\(id)/pem\" download>Download PEM (with chain)</a></p>"
            if Self.writers.contains(session.principal.role) {
                body += """
                    <h2>Export</h2><p>Exports are audited and limited per API key per hour.</p>
                    <p class="actions"><a class="button" href="/ui/certificates/\(id)/export?format=pem">PEM chain</a>
                    <a class="button" href="/ui/certificates/\(id)/export?format=der">DER</a>
                    <a class="button" href="/ui/certificates/\(id)/export?format=pkcs7">PKCS#7 (certs only)</a></p>
                    <form method="post" action="/ui/certificates/\(id)/export" class="card narrow">\(HTML.csrf(session))
                    \(HTML.field("PKCS#12 password (8 characters or more)", name: "password", type: "password", required: true, extra: "minlength=\"8\" maxlength=\"1024\" autocomplete=\"new-password\""))
                    <button type="submit">Export PKCS#12</button></form>
                    """
            }
        }
        if Self.writers.contains(session.principal.role), record.status == "issued" || record.revocation?.reasonCode == 6 {
            let reasons = RevocationReason.allCases.filter { $0 != .removeFromCRL || record.revocation?.reasonCode == 6 }
            body += """
                <h2>Revoke</h2>
                <form method="post" action="/ui/certificates/\(id)/revoke" class="card narrow danger-zone">\(HTML.csrf(session))
                \(HTML.select("Reason", name: "reason", options: reasons.map { ($0.name, $0.name) }, selected: "unspecified"))
                <button type="submit" class="danger" id="revoke">Revoke…</button>
                <p class="muted">You will be asked to confirm.</p></form>
                """
        }
        return ConsolePage(title: "Certificate \(record.serialHex)", body: body, session: session, section: "certificates").response()
    }

    static func keyDescription(_ key: Certificate.PublicKey) -> String {
        let text = String(describing: key)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    static func extensionName(_ oid: ASN1ObjectIdentifier) -> String {
        let names: [String: String] = [
            "2.5.29.19": "Basic constraints", "2.5.29.15": "Key usage", "2.5.29.37": "Extended key usage",
            "2.5.29.17": "Subject alternative name", "2.5.29.14": "Subject key identifier",
            "2.5.29.35": "Authority key identifier", "2.5.29.31": "CRL distribution points",
            "1.3.6.1.5.5.7.1.1": "Authority information access", "2.5.29.32": "Certificate policies",
            "2.5.29.30": "Name constraints",
        ]
        let dotted = oid.description
        return names[dotted].map { "\($0) (\(dotted))" } ?? dotted
    }

    func pem(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await auth.session(request)
        let record = try await find(context)
        guard let der = record.certificateDER else {
            throw ConsoleError(.conflict, "No certificate yet", "This certificate is \(record.status): there is nothing to download.")
        }
        let pem = PEM.certificate(der) + ((try await CertificateRoutes.issuerCertificate(of: record, generations: generations)).map(PEM.certificate) ?? "")
        var headers = ConsolePage.securityHeaders
        headers[.contentType] = "application/x-pem-file"
        headers[.contentDisposition] = "attachment; filename=\"\(record.serialHex).pem\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: pem)))
    }

    /// Step 1 (no `confirm`): the confirmation page. Step 2 (`confirm=yes`): the revocation, as the API does it.
    func revoke(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, form) = try await auth.submit(request, Self.writers)
        let record = try await find(context)
        let id = record.id.uuidString.lowercased()
        guard let reasonName = form.text("reason"), let reason = RevocationReason(name: reasonName) else {
            throw ConsoleError(.badRequest, "Pick a reason",
                               "The reason must be one of \(RevocationReason.allCases.map(\.name).joined(separator: ", ")). Nothing was changed.")
        }
        guard form["confirm"] == "yes" else {
            let body = """
                <div class="card narrow danger-zone" role="alertdialog" aria-labelledby="confirm-title">
                <h2 id="confirm-title">Revoke this certificate?</h2>
                <dl class="facts"><dt>Serial</dt><dd><code>\(HTML.escape(record.serialHex))</code></dd>
                <dt>Subject</dt><dd>\(HTML.escape(record.subject))</dd><dt>Reason</dt><dd>\(HTML.escape(reason.name))</dd></dl>
                <p>Relying parties will see it revoked through OCSP at once and on the next CRL. \(reason == .certificateHold ? "A hold can be lifted later with removeFromCRL." : "This cannot be undone.")</p>
                <form method="post" action="/ui/certificates/\(id)/revoke">\(HTML.csrf(session))
                <input type="hidden" name="reason" value="\(HTML.escape(reason.name))"><input type="hidden" name="confirm" value="yes">
                <button type="submit" class="danger" id="confirm-revoke">Yes, revoke</button>
                <a class="button" href="/ui/certificates/\(id)">Cancel</a></form></div>
                """
            return ConsolePage(title: "Confirm revocation", body: body, session: session, section: "certificates").response()
        }
        let changed: Bool
        do {
            changed = try await revocations.revoke(RevocationRequest(
                certificateID: record.id, reasonCode: reason.rawValue, invalidityDate: nil, actor: session.principal.actor, service: "admin"))
        } catch RevocationStoreError.notFound {
            throw ConsoleError(.notFound, "Certificate not found", "There is no certificate with this id.")
        } catch RevocationStoreError.notRevocable(let why) {
            throw ConsoleError(.conflict, "Cannot revoke", "This certificate cannot be revoked: \(why). Nothing was changed.")
        }
        throw ConsoleRedirect(location: "/ui/certificates/\(id)?done=\(changed ? "revoked" : "unchanged")")
    }

    func export(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await auth.require(request, Self.writers)
        let format = request.uri.queryParameters["format"].map(String.init) ?? "pem"
        guard format != "pkcs12" else {
            throw ConsoleError(.badRequest, "Password needed", "PKCS#12 exports are made with the form on the certificate's page.")
        }
        return Self.pageFor429(try await export.export(principal: session.principal, idText: context.parameters.get("id") ?? "",
                                                       formatText: format, password: nil), session, id: context.parameters.get("id") ?? "")
    }

    func exportPKCS12(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, form) = try await auth.submit(request, Self.writers)
        return Self.pageFor429(try await export.export(principal: session.principal, idText: context.parameters.get("id") ?? "",
                                                       formatText: "pkcs12", password: form["password"]), session, id: context.parameters.get("id") ?? "")
    }

    /// The export API answers its hourly limit with JSON (export_rate_limited); the browser gets a page saying
    /// the same in words, with the same 429 status and Retry-After.
    static func pageFor429(_ response: Response, _ session: ConsoleSession, id: String) -> Response {
        guard response.status == .tooManyRequests else { return response }
        let retry = response.headers[.retryAfter] ?? ""
        let wait = Int(retry).map { $0 >= 120 ? "about \(($0 + 59) / 60) minutes" : "\($0) seconds" } ?? "a while"
        let body = HTML.notice("Your API key has used its certificate exports for this hour, so nothing was exported. Try again in \(wait). "
                               + "The limit is CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR (docs/export.md).", kind: "error")
            + "<p><a href=\"/ui/certificates/\(HTML.escape(HTML.query(id)))\">Back to the certificate</a></p>"
        var page = ConsolePage(title: "Too many exports", body: body, session: session, status: .tooManyRequests, section: "certificates").response()
        if !retry.isEmpty { page.headers[.retryAfter] = retry }
        return page
    }
}
