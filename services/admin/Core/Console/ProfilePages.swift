import CertctlPKI
import CertctlStore
import Foundation
import Hummingbird

/// Certificate profiles: list, create, edit (PUT in the API) and delete an unused one, with ProfileRoutes' validation;
/// a refusal is shown next to the field it names.
struct ProfilePages: Sendable {
    let auth: ConsoleAuth
    let routes: ProfileRoutes

    static let readers: Set<APIRole> = [.admin, .operator, .auditor]
    static let fields = ["id", "description", "allowed_key_algorithms", "max_validity_days", "extended_key_usages",
                         "allowed_san_types", "san_patterns", "allow_ca"]

    func add(_ route: ConsoleRoute) {
        route(.get, "/ui/profiles") { request, _ in try await list(request) }
        route(.post, "/ui/profiles") { request, _ in try await create(request) }
        route(.get, "/ui/profiles/:id") { request, context in try await detail(request, context) }
        route(.post, "/ui/profiles/:id") { request, context in try await update(request, context) }
        route(.post, "/ui/profiles/:id/delete") { request, context in try await delete(request, context) }
    }

    /// What the form shows: a stored profile, or what was submitted.
    struct Values {
        var id = ""
        var description = ""
        var algorithms: Set<String> = [KeyAlgorithm.ecdsaP256.rawValue]
        var maxValidityDays = "397"
        var usages: Set<String> = [CertificateProfile.Usage.serverAuth.rawValue]
        var sanTypes: Set<String> = [CertificateProfile.SANType.dns.rawValue]
        var sanPatterns = ""
        var allowCA = false

        init() {}

        init(_ r: ProfileRecord) {
            id = r.id; description = r.description; algorithms = Set(r.allowedKeyAlgorithms)
            maxValidityDays = String(r.maxValidityDays); usages = Set(r.extendedKeyUsages); sanTypes = Set(r.allowedSANTypes)
            sanPatterns = r.sanPatterns.joined(separator: "\n"); allowCA = r.allowCA
        }

        init(_ form: ConsoleForm, id: String?) {
            func checked(_ name: String, _ all: [String]) -> Set<String> { Set(all.filter { form["\(name)-\($0)"] != nil }) }
            self.id = id ?? form.text("id") ?? ""
            description = form.text("description") ?? ""
            algorithms = checked("allowed_key_algorithms", KeyAlgorithm.allCases.map(\.rawValue))
            maxValidityDays = form.text("max_validity_days") ?? ""
            usages = checked("extended_key_usages", CertificateProfile.Usage.allCases.map(\.rawValue))
            sanTypes = checked("allowed_san_types", CertificateProfile.SANType.allCases.map(\.rawValue))
            sanPatterns = form["san_patterns"] ?? ""
            allowCA = form["allow_ca"] != nil
        }

        /// The API's body; the order of checked boxes follows the enums so equal forms give equal profiles.
        func body(includeID: Bool) throws -> ProfileRoutes.ProfileBody {
            guard let days = Int(maxValidityDays) else {
                throw APIError(.badRequest, "invalid_request", "max_validity_days must be a whole number of days")
            }
            return ProfileRoutes.ProfileBody(
                id: includeID ? id : nil, description: description,
                allowed_key_algorithms: KeyAlgorithm.allCases.map(\.rawValue).filter(algorithms.contains),
                max_validity_days: days,
                extended_key_usages: CertificateProfile.Usage.allCases.map(\.rawValue).filter(usages.contains),
                allowed_san_types: CertificateProfile.SANType.allCases.map(\.rawValue).filter(sanTypes.contains),
                san_patterns: sanPatterns.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                allow_ca: allowCA)
        }
    }

    /// The field an API validation message names ("max_validity_days must be …"), else "form".
    static func field(of error: APIError) -> String {
        if error.code == "profile_exists" || error.message == "field id is required" { return "id" }
        return fields.first { error.message.hasPrefix($0 + " ") || error.message.hasPrefix($0 + ":") } ?? "form"
    }

    func form(_ session: ConsoleSession, _ values: Values, errors: [String: String], editing: Bool) -> String {
        let action = editing ? "/ui/profiles/\(HTML.query(values.id))" : "/ui/profiles"
        var html = "<form method=\"post\" action=\"\(HTML.escape(action))\" class=\"card narrow profile-form\" novalidate>\(HTML.csrf(session))"
        if let error = errors["form"] { html += HTML.notice(error, kind: "error") }
        if !editing {
            html += HTML.field("Id (a-z, 0-9, - and _)", name: "id", value: values.id, required: true, error: errors["id"])
        }
        html += HTML.field("Description", name: "description", value: values.description, error: errors["description"])
        html += HTML.checkboxes("Allowed key algorithms", name: "allowed_key_algorithms",
                                options: KeyAlgorithm.allCases.map { ($0.rawValue, $0.rawValue) }, checked: values.algorithms,
                                error: errors["allowed_key_algorithms"])
        html += HTML.field("Maximum validity (days)", name: "max_validity_days", value: values.maxValidityDays, type: "number",
                           required: true, error: errors["max_validity_days"], extra: "inputmode=\"numeric\"")
        html += HTML.checkboxes("Extended key usages", name: "extended_key_usages",
                                options: CertificateProfile.Usage.allCases.map { ($0.rawValue, $0.rawValue) }, checked: values.usages,
                                error: errors["extended_key_usages"])
        html += HTML.checkboxes("Allowed SAN types", name: "allowed_san_types",
                                options: CertificateProfile.SANType.allCases.map { ($0.rawValue, $0.rawValue) }, checked: values.sanTypes,
                                error: errors["allowed_san_types"])
        html += HTML.textarea("SAN patterns", name: "san_patterns", value: values.sanPatterns, error: errors["san_patterns"],
                              hint: "One per line, e.g. *.example.com; empty allows any name of the allowed types.")
        html += "<div class=\"field\"><label class=\"check\" for=\"f-allow_ca\"><input type=\"checkbox\" id=\"f-allow_ca\" name=\"allow_ca\" value=\"on\"\(values.allowCA ? " checked" : "")> May issue CA certificates</label>"
        if let error = errors["allow_ca"] { html += "<p class=\"field-error\">\(HTML.escape(error))</p>" }
        html += "</div><button type=\"submit\" class=\"primary\" id=\"save-profile\">\(editing ? "Save profile" : "Create profile")</button></form>"
        return html
    }

    func list(_ request: Request) async throws -> Response {
        let session = try await auth.require(request, Self.readers)
        let notice = request.uri.queryParameters["deleted"].map { "Profile \($0) deleted." }
        return try await renderList(session, values: Values(), errors: [:], notice: notice)
    }

    func renderList(_ session: ConsoleSession, values: Values, errors: [String: String], notice: String? = nil,
                    status: HTTPResponse.Status = .ok) async throws -> Response {
        let records = try await routes.profiles.list()
        var body = (notice.map { HTML.notice($0) } ?? "") + "<p>What certificates of each profile may contain. Every issuance path (API, SCEP, EST) checks its profile.</p>"
        body += HTML.table(["Id", "Description", "Key algorithms", "Max validity", "Extended key usages", "SAN types", "SAN patterns", "CA"],
                           records.map { r in
            ["<a href=\"/ui/profiles/\(HTML.escape(HTML.query(r.id)))\">\(HTML.escape(r.id))</a>", HTML.escape(r.description),
             HTML.escape(r.allowedKeyAlgorithms.joined(separator: ", ")), "\(r.maxValidityDays) d",
             HTML.escape(r.extendedKeyUsages.joined(separator: ", ")), HTML.escape(r.allowedSANTypes.joined(separator: ", ")),
             HTML.escape(r.sanPatterns.joined(separator: ", ")), r.allowCA ? "yes" : "no"]
        }, empty: "No profile.")
        if session.principal.role == .admin {
            body += "<h2 id=\"create\">Create a profile</h2>" + form(session, values, errors: errors, editing: false)
        }
        body += "<p class=\"muted\">A profile can be deleted only while no certificate, SCEP endpoint, EST label or held request names it.</p>"
        return ConsolePage(title: "Certificate profiles", body: body, session: session, status: status, section: "profiles").response()
    }

    func detail(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await auth.require(request, Self.readers)
        let id = context.parameters.get("id") ?? ""
        guard let record = try await routes.profiles.get(id) else {
            throw APIError(.notFound, "profile_not_found", "profile \(id) does not exist")
        }
        let notice = request.uri.queryParameters["saved"] != nil ? "Profile \(id) saved." : nil
        return renderDetail(session, record, values: Values(record), errors: [:], notice: notice)
    }

    func renderDetail(_ session: ConsoleSession, _ record: ProfileRecord, values: Values, errors: [String: String], notice: String? = nil,
                      status: HTTPResponse.Status = .ok) -> Response {
        var body = notice.map { HTML.notice($0) } ?? ""
        body += """
            <dl class="facts"><dt>Id</dt><dd><code>\(HTML.escape(record.id))</code></dd>
            <dt>Created</dt><dd>\(HTML.date(record.createdAt))</dd><dt>Updated</dt><dd>\(HTML.date(record.updatedAt))</dd></dl>
            """
        if session.principal.role == .admin {
            body += "<h2>Edit</h2>" + form(session, values, errors: errors, editing: true)
            body += """
                <h2>Delete</h2>
                <form method="post" action="/ui/profiles/\(HTML.query(record.id))/delete" class="card narrow danger-zone">\(HTML.csrf(session))
                <p>Deleting is refused while certificates, SCEP endpoints, EST labels or held requests name this profile.</p>
                <label><input type="checkbox" name="confirm" required> I want to delete profile \(HTML.escape(record.id))</label>
                <button type="submit" class="danger">Delete profile</button></form>
                """
        } else {
            body += """
                <dl class="facts"><dt>Description</dt><dd>\(HTML.escape(record.description))</dd>
                <dt>Key algorithms</dt><dd>\(HTML.escape(record.allowedKeyAlgorithms.joined(separator: ", ")))</dd>
                <dt>Maximum validity</dt><dd>\(record.maxValidityDays) days</dd>
                <dt>Extended key usages</dt><dd>\(HTML.escape(record.extendedKeyUsages.joined(separator: ", ")))</dd>
                <dt>SAN types</dt><dd>\(HTML.escape(record.allowedSANTypes.joined(separator: ", ")))</dd>
                <dt>SAN patterns</dt><dd>\(HTML.escape(record.sanPatterns.joined(separator: ", ")))</dd>
                <dt>CA certificates</dt><dd>\(record.allowCA ? "allowed" : "no")</dd></dl>
                """
        }
        body += "<p><a href=\"/ui/profiles\">All profiles</a></p>"
        return ConsolePage(title: "Profile \(record.id)", body: body, session: session, status: status, section: "profiles").response()
    }

    func create(_ request: Request) async throws -> Response {
        let (session, form) = try await auth.submit(request, [.admin])
        let values = Values(form, id: nil)
        do {
            let created = try await routes.create(try values.body(includeID: true), by: session.principal)
            throw ConsoleRedirect(location: "/ui/profiles/\(HTML.query(created.id))?saved=1")
        } catch let error as APIError where error.status == .badRequest || error.code == "profile_exists" {
            return try await renderList(session, values: values, errors: [Self.field(of: error): error.message], status: error.status)
        }
    }

    func update(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, form) = try await auth.submit(request, [.admin])
        let id = context.parameters.get("id") ?? ""
        let values = Values(form, id: id)
        do {
            let updated = try await routes.update(id, try values.body(includeID: false), by: session.principal)
            throw ConsoleRedirect(location: "/ui/profiles/\(HTML.query(updated.id))?saved=1")
        } catch let error as APIError where error.status == .badRequest {
            guard let record = try await routes.profiles.get(id) else { throw error }
            return renderDetail(session, record, values: values, errors: [Self.field(of: error): error.message], status: .badRequest)
        }
    }

    func delete(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (session, form) = try await auth.submit(request, [.admin])
        let id = context.parameters.get("id") ?? ""
        guard form["confirm"] != nil else {
            throw APIError(.badRequest, "invalid_request", "tick the confirmation box to delete profile \(id)")
        }
        try await routes.delete(id, by: session.principal)
        throw ConsoleRedirect(location: "/ui/profiles?deleted=\(HTML.query(id))")
    }
}
