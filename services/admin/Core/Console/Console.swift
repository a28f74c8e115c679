import CertctlConfig
import CertctlIssuance
import CertctlRPC
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// How the console runs: the session lifetime and whether cookies carry `Secure` (admin serves TLS).
package struct ConsoleOptions: Sendable {
    package var sessionLifetime: Duration
    package var secureCookies: Bool

    package init(sessionLifetime: Duration = .seconds(8 * 3600), secureCookies: Bool = false) {
        self.sessionLifetime = sessionLifetime
        self.secureCookies = secureCookies
    }
}

/// The web console under /ui (docs/console.md): server-rendered pages on the same stores and route logic as
/// the REST API, signed in with an API key into a server-side session, roles as in the API, checked here.
package enum Console {
    package static func addRoutes(
        to router: Router<BasicRequestContext>, database: Database, signing: any SigningClient & KeyGenerationClient,
        urls: PublicationURLs, exportLimitPerHour: Int, options: ConsoleOptions, logger: Logger
    ) {
        let client = database.client
        let auth = ConsoleAuth(sessions: ConsoleSessionStore(client: client, logger: logger),
                               keys: APIKeyStore(client: client, logger: logger),
                               audit: AuditLog(client: client, logger: logger), options: options, logger: logger)
        let support = APISupport(keys: APIKeyStore(client: client, logger: logger))
        let certificates = CertificateRecordStore(client: client, logger: logger)
        let generations = IssuerGenerationStore(client: client, logger: logger)
        let certificatePages = CertificatePages(
            auth: auth, certificates: certificates, revocations: RevocationStore(client: client, logger: logger),
            generations: generations, profiles: ProfileStore(client: client, logger: logger),
            export: CertificateExportRoutes(
                support: support, certificates: certificates, generations: generations,
                limiter: ExportRateLimiter(client: client, limitPerHour: exportLimitPerHour, logger: logger),
                audit: AuditLog(client: client, logger: logger)))
        let dashboard = DashboardPage(auth: auth, store: ConsoleDashboardStore(client: client, logger: logger))
        let admin = AdminPages(
            auth: auth,
            approvals: EnrollmentRequestRoutes(
                support: support, issuance: IssuanceService(database: database, signer: signing, urls: urls, logger: logger),
                store: EnrollmentRequestStore(client: client, logger: logger)),
            keys: APIKeyRoutes(support: support, keys: APIKeyStore(client: client, logger: logger)),
            chain: AuditChain(client: client, logger: logger), client: client, logger: logger)
        let enrollment = EnrollmentPages(
            auth: auth, scep: EnrollmentSCEPStore(client: client, logger: logger), est: EnrollmentESTStore(client: client, logger: logger),
            anchors: TrustAnchorRoutes(support: support, store: TrustAnchorStore(client: client, logger: logger)),
            challenges: SCEPAdminRoutes(support: support, store: EnrollmentSCEPStore(client: client, logger: logger)))
        let profiles = ProfilePages(auth: auth, routes: ProfileRoutes(support: support, profiles: ProfileStore(client: client, logger: logger)))

        func route(_ method: HTTPRequest.Method, _ path: RouterPath,
                   _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) {
            router.on(path, method: method) { request, context in
                await ConsoleErrors.run(request, logger: logger) { try await handler(request, context) }
            }
        }
        router.get("/ui/static/console.css") { _, _ in ConsoleAssets.response(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/ui/static/console.js") { _, _ in ConsoleAssets.response(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        route(.get, "/ui/login") { request, _ in try await auth.loginPage(request) }
        route(.post, "/ui/login") { request, _ in try await auth.login(request) }
        route(.post, "/ui/logout") { request, _ in try await auth.logout(request) }
        // "/ui" and "/ui/" are one route to Hummingbird
        route(.get, "/ui") { request, _ in try await dashboard.render(request) }
        route(.get, "/ui/certificates") { request, _ in try await certificatePages.search(request) }
        route(.get, "/ui/certificates/:id") { request, context in try await certificatePages.detail(request, context) }
        route(.get, "/ui/certificates/:id/pem") { request, context in try await certificatePages.pem(request, context) }
        route(.post, "/ui/certificates/:id/revoke") { request, context in try await certificatePages.revoke(request, context) }
        route(.get, "/ui/certificates/:id/export") { request, context in try await certificatePages.export(request, context) }
        route(.post, "/ui/certificates/:id/export") { request, context in try await certificatePages.exportPKCS12(request, context) }
        admin.add(route)
        enrollment.add(route)
        profiles.add(route)
        route(.get, "/ui/**") { _, _ in throw ConsoleError(.notFound, "Page not found", "There is no console page at this address.") }
    }
}

/// A refusal or failure shown as a page with this status, in plain words.
struct ConsoleError: Error {
    let status: HTTPResponse.Status
    let title: String
    let message: String

    init(_ status: HTTPResponse.Status, _ title: String, _ message: String) {
        self.status = status
        self.title = title
        self.message = message
    }

    static func forbidden(_ session: ConsoleSession) -> ConsoleError {
        ConsoleError(.forbidden, "Not allowed",
                     "Your API key has the role \(session.principal.role.rawValue), which may not do this. Nothing was changed.")
    }

    static let csrf = ConsoleError(.forbidden, "Form expired or forged",
                                   "This form did not carry this session's security token, so it was refused and nothing was changed. Go back, reload the page and try again.")
}

/// Sends the browser elsewhere (303: the next request is a GET).
struct ConsoleRedirect: Error {
    let location: String
    var cookies: [String] = []
}

enum ConsoleErrors {
    /// Runs a console handler, turning every failure into a page that says what happened.
    static func run(_ request: Request, logger: Logger, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let redirect as ConsoleRedirect {
            return self.redirect(redirect.location, cookies: redirect.cookies)
        } catch let error as ConsoleError {
            return page(error.status, error.title, error.message)
        } catch let error as APIError {
            return page(error.status, title(for: error.status), "\(error.message) (\(error.code)). Nothing was changed.")
        } catch let error as IssuanceError {
            let api = APIError.from(error)
            return page(api.status, title(for: api.status), "\(api.message) (\(api.code)).")
        } catch where DatabaseErrorText.isDatabaseFailure(error) {
            logger.error("console: database failure", metadata: ["path": "\(request.uri.path)", "error": "\(DatabaseErrorText.describe(error))"])
            return page(.serviceUnavailable, "The database cannot be reached",
                        "certctl-admin could not read or write its database just now, so this page cannot be shown and nothing was changed. Try again in a minute; if it persists, check that Postgres is running (certctl-admin doctor).")
        } catch {
            logger.error("console: unexpected failure", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return page(.internalServerError, "Something went wrong",
                        "The console could not finish this request. The error was logged by certctl-admin.")
        }
    }

    static func title(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 401: "Sign-in needed"
        case 403: "Not allowed"
        case 404: "Not found"
        case 409: "Refused"
        case 429: "Too many requests"
        case 502, 503, 504: "A service is unavailable"
        default: "Refused"
        }
    }

    static func page(_ status: HTTPResponse.Status, _ title: String, _ message: String) -> Response {
        ConsolePage(title: title, body: "<p class=\"error-text\">\(HTML.escape(message))</p><p><a href=\"/ui/\">Back to the dashboard</a></p>",
                    session: nil, status: status).response()
    }

    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var headers = ConsolePage.securityHeaders
        headers[.location] = location
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }
}

/// A submitted application/x-www-form-urlencoded form.
struct ConsoleForm {
    var values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    /// The trimmed value, nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    static func parse(_ request: Request) async throws -> ConsoleForm {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw ConsoleError(.unsupportedMediaType, "Not a form", "The console accepts forms sent as application/x-www-form-urlencoded.")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 * 1024)
        } catch {
            throw ConsoleError(.contentTooLarge, "Form too large", "Forms are limited to 64 KiB.")
        }
        return ConsoleForm(values: decode(String(buffer: buffer)))
    }

    static func decode(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let name = decoded(parts[0])
            let value = parts.count > 1 ? decoded(parts[1]) : ""
            if values[name] == nil { values[name] = value.replacingOccurrences(of: "\u{0}", with: "") }
        }
        return values
    }
}

/// Sessions, sign-in and the checks every page makes: the session cookie, the CSRF token and the role.
struct ConsoleAuth: Sendable {
    static let cookieName = "certctl_session"
    static let loginCookieName = "certctl_login_csrf"

    let sessions: ConsoleSessionStore
    let keys: APIKeyStore
    let audit: AuditLog
    let options: ConsoleOptions
    let logger: Logger

    func cookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/ui; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(options.secureCookies ? "; Secure" : "")"
    }

    /// The signed-in session, or a redirect to the sign-in page that comes back here.
    func session(_ request: Request) async throws -> ConsoleSession {
        if let id = request.cookies[Self.cookieName]?.value, let session = try await sessions.find(id) {
            return session
        }
        var next = request.uri.path
        if request.method == .get, let query = request.uri.query, !query.isEmpty { next += "?" + query }
        throw ConsoleRedirect(location: "/ui/login?next=\(HTML.query(next))",
                              cookies: request.cookies[Self.cookieName] == nil ? [] : [cookie(Self.cookieName, "", maxAge: 0)])
    }

    /// A session whose role is one of `roles` (what the API's x-certctl-roles says for the same action).
    func require(_ request: Request, _ roles: Set<APIRole>) async throws -> ConsoleSession {
        let session = try await session(request)
        guard roles.contains(session.principal.role) else { throw ConsoleError.forbidden(session) }
        return session
    }

    /// A state-changing request: the session, its form with the session's CSRF token, then the role.
    /// A missing or wrong token is refused (403) before anything is read or changed.
    func submit(_ request: Request, _ roles: Set<APIRole>) async throws -> (ConsoleSession, ConsoleForm) {
        let session = try await session(request)
        let form = try await ConsoleForm.parse(request)
        guard let token = form["csrf_token"], ConstantTime.equal(Array(token.utf8), Array(session.csrfToken.utf8)) else {
            throw ConsoleError.csrf
        }
        guard roles.contains(session.principal.role) else {
            throw ConsoleError.forbidden(session)
        }
        return (session, form)
    }

    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("//") else { return "/ui/" }
        return next
    }

    func loginPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let token = ConsoleSessionStore.randomToken()
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        var body = ""
        if let error { body += HTML.notice(error, kind: "error") }
        body += """
            <p>Sign in with an API key (from <code>certctl-admin</code>'s bootstrap key or the API keys page). The key is checked once; \
            the browser then holds a session cookie, never the key.</p>
            <form method="post" action="/ui/login" class="card narrow">
            <input type="hidden" name="login_token" value="\(HTML.escape(token))">
            <input type="hidden" name="next" value="\(HTML.escape(next))">
            \(HTML.field("API key", name: "api_key", type: "password", required: true, extra: "autocomplete=\"off\" autofocus"))
            <button type="submit" class="primary">Sign in</button>
            </form>
            """
        var response = ConsolePage(title: "Sign in", body: body, session: nil, status: status).response()
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.loginCookieName, token, maxAge: 3600)))
        return response
    }

    func login(_ request: Request) async throws -> Response {
        let form = try await ConsoleForm.parse(request)
        // Login CSRF: the form's token must equal the cookie set with the form (double submit).
        guard let token = form["login_token"], let expected = request.cookies[Self.loginCookieName]?.value,
              token.count >= 32, ConstantTime.equal(Array(token.utf8), Array(expected.utf8)) else {
            throw ConsoleError.csrf
        }
        guard let key = form.text("api_key"), let principal = try await keys.authenticate(key) else {
            return try await loginPage(request, error: "That API key is not valid: it is unknown, revoked or expired.", status: .unauthorized)
        }
        let (id, _) = try await sessions.create(for: principal, lifetime: options.sessionLifetime)
        try await audit.record(AuditRecord(service: "admin", actor: principal.actor, action: "console.sign_in", outcome: .success,
                                           targetType: "api_key", targetID: principal.keyID.uuidString.lowercased()))
        let lifetime = Int(options.sessionLifetime.components.seconds)
        throw ConsoleRedirect(location: Self.safeNext(form["next"]),
                              cookies: [cookie(Self.cookieName, id, maxAge: lifetime), cookie(Self.loginCookieName, "", maxAge: 0)])
    }

    func logout(_ request: Request) async throws -> Response {
        let (session, _) = try await submit(request, Set(APIRole.allCases))
        if let id = request.cookies[Self.cookieName]?.value { try await sessions.delete(id) }
        try await audit.record(AuditRecord(service: "admin", actor: session.principal.actor, action: "console.sign_out", outcome: .success,
                                           targetType: "api_key", targetID: session.principal.keyID.uuidString.lowercased()))
        throw ConsoleRedirect(location: "/ui/login", cookies: [cookie(Self.cookieName, "", maxAge: 0)])
    }
}
