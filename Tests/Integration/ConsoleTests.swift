import CertctlAdminCore
import CertctlConfig
import CertctlPKI
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// The web console under /ui (docs/console.md), in-process on the admin router: sessions and their cookie,
/// CSRF tokens, roles enforced on the server, HTML escaping and page size.
@Suite("Web console", .serialized, .timeLimit(.minutes(3)))
struct ConsoleTests {
    struct Page {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let text: String
        var location: String? { headers[.location] }
        var setCookies: [String] { headers[values: .setCookie] }
        func cookie(_ name: String) -> String? {
            setCookies.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1).prefix { $0 != ";" }) }
        }
    }

    /// A browser of one: sends the session cookie it was given.
    struct Browser {
        let stack: AdminAPIStack
        var session: String?
        var csrf: String?

        func get(_ path: String) async throws -> Page {
            var headers = HTTPFields()
            if let session { headers[.cookie] = "certctl_session=\(session)" }
            let response = try await stack.http.executeRequest(uri: path, method: .get, headers: headers, body: nil)
            return Page(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }

        /// Posts a form; the session's CSRF token is added unless `csrf` is false.
        func post(_ path: String, _ fields: [String: String] = [:], csrf withToken: Bool = true, cookie: String? = nil) async throws -> Page {
            var headers = HTTPFields()
            headers[.contentType] = "application/x-www-form-urlencoded"
            if let value = cookie ?? session.map({ "certctl_session=\($0)" }) { headers[.cookie] = value }
            var all = fields
            if withToken, let csrf { all["csrf_token"] = csrf }
            let body = all.map { "\(queryValue($0.key))=\(queryValue($0.value))" }.joined(separator: "&")
            let response = try await stack.http.executeRequest(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
            return Page(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }

        /// Signs in with `key` through the login form; returns the sign-in response.
        @discardableResult
        mutating func signIn(_ key: String) async throws -> Page {
            let form = try await get("/ui/login?next=%2Fui%2F")
            #expect(form.status == .ok)
            let token = try #require(form.cookie("certctl_login_csrf"))
            let page = try await post("/ui/login", ["api_key": key, "login_token": token, "next": "/ui/"], csrf: false,
                                      cookie: "certctl_login_csrf=\(token)")
            if let id = page.cookie("certctl_session"), !id.isEmpty {
                session = id
                let home = try await get("/ui/")
                csrf = Self.hidden("csrf_token", in: home.text)
            }
            return page
        }

        static func hidden(_ name: String, in html: String) -> String? {
            guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            return String(html[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test("signing in with an API key starts a session: 303 to the page asked for, an HttpOnly SameSite=Strict cookie scoped to /ui without Secure over plain HTTP, only its SHA-256 in Postgres; a wrong key gets 401 and no session; a login form without its token gets 403; logout ends the session")
    func signInAndOut() async throws {
        try await AdminAPIStack.run { stack in
            var browser = Browser(stack: stack)
            let anonymous = try await browser.get("/ui/certificates?status=issued")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.location == "/ui/login?next=%2Fui%2Fcertificates%3Fstatus%3Dissued")

            let refused = try await browser.signIn("cctl_not-a-key")
            #expect(refused.status == .unauthorized)
            #expect(refused.text.contains("not valid"))
            #expect(try await stack.count("SELECT count(*) FROM console_sessions") == 0)

            let noToken = try await browser.post("/ui/login", ["api_key": stack.keys[.admin]!], csrf: false)
            #expect(noToken.status == .forbidden)
            #expect(try await stack.count("SELECT count(*) FROM console_sessions") == 0)

            let page = try await browser.signIn(stack.keys[.operator]!)
            #expect(page.status == .seeOther)
            #expect(page.location == "/ui/")
            let cookie = try #require(page.setCookies.first { $0.hasPrefix("certctl_session=") })
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=28800"] { #expect(cookie.contains(flag), "\(cookie)") }
            #expect(!cookie.contains("Secure"))
            let id = try #require(browser.session)
            #expect(id.count == 43, "256 bits, base64url")
            let hash = Hex.string(SHA256.hash(data: Data(id.utf8)))
            #expect(try await stack.count("SELECT count(*) FROM console_sessions WHERE id_hash = '\\x\(hash)'::bytea") == 1)
            #expect(try await stack.count("SELECT count(*) FROM console_sessions WHERE position('\(id)' in csrf_token) > 0 OR encode(id_hash, 'escape') = '\(id)'") == 0)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'console.sign_in' AND actor = 'test-operator'") == 1)

            let home = try await browser.get("/ui/")
            #expect(home.status == .ok)
            #expect(home.text.contains("Signed in as <strong>test-operator</strong>"))
            #expect(home.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(home.headers[.cacheControl] == "no-store")

            let out = try await browser.post("/ui/logout")
            #expect(out.status == .seeOther)
            #expect(out.location == "/ui/login")
            #expect(out.cookie("certctl_session") == "")
            #expect(try await stack.count("SELECT count(*) FROM console_sessions") == 0)
            #expect(try await browser.get("/ui/").status == .seeOther, "the old cookie no longer works")
        }
    }

    @Test("the session cookie carries Secure when admin serves TLS")
    func secureCookie() async throws {
        try await AdminAPIStack.run(console: ConsoleOptions(sessionLifetime: .seconds(600), secureCookies: true)) { stack in
            var browser = Browser(stack: stack)
            let page = try await browser.signIn(stack.keys[.auditor]!)
            let cookie = try #require(page.setCookies.first { $0.hasPrefix("certctl_session=") })
            #expect(cookie.contains("; Secure") && cookie.contains("Max-Age=600"), "\(cookie)")
        }
    }

    @Test("a session ends when it expires and when its API key is revoked")
    func expiry() async throws {
        try await AdminAPIStack.run { stack in
            var browser = Browser(stack: stack)
            try await browser.signIn(stack.keys[.admin]!)
            #expect(try await browser.get("/ui/").status == .ok)
            _ = try await TestEnvironment.scalar(
                "WITH u AS (UPDATE console_sessions SET created_at = now() - interval '9 hours', expires_at = now() - interval '1 hour' RETURNING 1) SELECT count(*)::int FROM u",
                stack.url) as Int?
            let expired = try await browser.get("/ui/")
            #expect(expired.status == .seeOther)
            #expect(expired.location?.hasPrefix("/ui/login") == true)

            var operatorBrowser = Browser(stack: stack)
            try await operatorBrowser.signIn(stack.keys[.operator]!)
            #expect(try await operatorBrowser.get("/ui/certificates").status == .ok)
            _ = try await stack.call(.post, "/api/v1/api-keys/\(try await keyID(stack, .operator))/revoke")
            #expect(try await operatorBrowser.get("/ui/certificates").status == .seeOther, "a revoked key's session is over")
        }
    }

    func keyID(_ stack: AdminAPIStack, _ role: APIRole) async throws -> String {
        let list = try await stack.call(.get, "/api/v1/api-keys")
        return try #require(list.items.first { $0["actor"] as? String == AdminAPIStack.actor(role) }?["id"] as? String)
    }

    @Test("revoking in the console takes a reason and a confirmation step, then revokes as the API does under the session's actor; a form without the CSRF token or with another session's gets 403 and changes nothing; an auditor sees no action buttons and its forged POST with a valid token gets 403")
    func revokeCSRFAndRoles() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let csr = try CSRFixture("console.example.com")
            let issued = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": csr.pem]))
            let id = try #require(issued["id"] as? String)
            let serial = try #require(issued["serial_hex"] as? String)

            var operatorBrowser = Browser(stack: stack)
            try await operatorBrowser.signIn(stack.keys[.operator]!)
            // search by serial in another form: upper case, colons, leading zeros
            let colons = stride(from: 0, to: serial.count, by: 2).map { i -> String in
                let start = serial.index(serial.startIndex, offsetBy: i)
                return String(serial[start..<serial.index(start, offsetBy: min(2, serial.count - i))])
            }.joined(separator: ":").uppercased()
            let found = try await operatorBrowser.get("/ui/certificates?serial=\(queryValue("00:" + colons))")
            #expect(found.status == .ok)
            #expect(found.text.contains("/ui/certificates/\(id)"))
            let detail = try await operatorBrowser.get("/ui/certificates/\(id)")
            #expect(detail.text.contains("action=\"/ui/certificates/\(id)/revoke\""))
            #expect(detail.text.contains("Subject alternative name (2.5.29.17)"))

            try await stack.expectUnchanged("revoke without CSRF token") {
                let page = try await operatorBrowser.post("/ui/certificates/\(id)/revoke", ["reason": "keyCompromise", "confirm": "yes"], csrf: false)
                #expect(page.status == .forbidden)
            }
            var adminBrowser = Browser(stack: stack)
            try await adminBrowser.signIn(stack.keys[.admin]!)
            try await stack.expectUnchanged("revoke with another session's token") {
                let page = try await operatorBrowser.post("/ui/certificates/\(id)/revoke",
                                                          ["reason": "keyCompromise", "confirm": "yes", "csrf_token": adminBrowser.csrf!], csrf: false)
                #expect(page.status == .forbidden)
            }

            var auditor = Browser(stack: stack)
            try await auditor.signIn(stack.keys[.auditor]!)
            let auditorView = try await auditor.get("/ui/certificates/\(id)")
            #expect(auditorView.status == .ok)
            #expect(!auditorView.text.contains("/revoke\"") && !auditorView.text.contains("/export"), "no action for an auditor")
            try await stack.expectUnchanged("auditor's forged revoke") {
                let page = try await auditor.post("/ui/certificates/\(id)/revoke", ["reason": "keyCompromise", "confirm": "yes"])
                #expect(page.status == .forbidden)
                #expect(page.text.contains("role auditor"))
            }
            #expect(try await auditor.get("/ui/api-keys").status == .forbidden)
            try await stack.expectUnchanged("auditor's forged key creation") {
                let page = try await auditor.post("/ui/api-keys", ["actor": "mallory", "role": "admin"])
                #expect(page.status == .forbidden)
            }

            let confirm = try await operatorBrowser.post("/ui/certificates/\(id)/revoke", ["reason": "keyCompromise"])
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains("Revoke this certificate?") && confirm.text.contains("name=\"confirm\" value=\"yes\""))
            #expect(try await stack.count("SELECT count(*) FROM certificate_revocations") == 0, "nothing before the confirmation")
            let done = try await operatorBrowser.post("/ui/certificates/\(id)/revoke", ["reason": "keyCompromise", "confirm": "yes"])
            #expect(done.status == .seeOther)
            #expect(done.location == "/ui/certificates/\(id)?done=revoked")
            let after = try await stack.call(.get, "/api/v1/certificates/\(id)")
            #expect(after["status"] as? String == "revoked")
            #expect((after["revocation"] as? [String: Any])?["revoked_by"] as? String == "test-operator")
            #expect((after["revocation"] as? [String: Any])?["reason"] as? String == "keyCompromise")

            let export = try await operatorBrowser.get("/ui/certificates/\(id)/export?format=der")
            #expect(export.status == .ok)
            #expect(export.headers[.contentType] == "application/pkix-cert")
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'certificate.export' AND actor = 'test-operator'") == 1)
        }
    }

    @Test("hostile subject text is escaped on every page that shows it; every page with its stylesheet and script is under 100 KB")
    func escapingAndSize() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-x")
            let hostile = "CN=<script>alert('x')</script>\"><img src=x onerror=alert(1)>"
            let reservation = CertificateReservation(
                issuerID: "iss-x", issuerGeneration: 1, serialHex: "1" + Hex.string(SerialNumber.random()).prefix(30), profileID: "default",
                subject: hostile, subjectDER: [0x30, 0x00], spkiSHA256: Array(repeating: 1, count: 32),
                subjectAltNames: ["DNS:<b>bold</b>.example"], notBefore: Date(), notAfter: Date().addingTimeInterval(86400),
                csrDER: [0x30, 0x00], requestedBy: "<i>actor</i>", source: "api", idempotencyKey: nil, requestFingerprint: nil)
            guard case .reserved(let id, _) = try await CertificateRecordStore(client: stack.client, logger: TestEnvironment.logger).reserve(reservation) else {
                Issue.record("not reserved"); return
            }
            var browser = Browser(stack: stack)
            try await browser.signIn(stack.keys[.admin]!)
            let pages = ["/ui/", "/ui/certificates", "/ui/certificates?q=script", "/ui/certificates/\(id.uuidString.lowercased())",
                         "/ui/approvals", "/ui/enrollment", "/ui/profiles", "/ui/api-keys", "/ui/audit", "/ui/login"]
            let css = try await browser.get("/ui/static/console.css")
            let js = try await browser.get("/ui/static/console.js")
            #expect(css.status == .ok && js.status == .ok)
            for path in pages {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path): \(page.text.prefix(300))")
                #expect(!page.text.contains("<script>alert") && !page.text.contains("<img src=x") && !page.text.contains("<b>bold"), "\(path)")
                #expect(page.text.utf8.count + css.text.utf8.count + js.text.utf8.count < 100_000, "\(path): \(page.text.utf8.count) bytes")
            }
            let detail = try await browser.get("/ui/certificates/\(id.uuidString.lowercased())")
            #expect(detail.text.contains("CN=&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
            #expect(detail.text.contains("&lt;i&gt;actor&lt;/i&gt;"))
            let search = try await browser.get("/ui/certificates?q=%3Cscript%3E")
            #expect(search.text.contains("value=\"&lt;script&gt;\""), "the query echoed escaped")
            #expect(try await browser.get("/ui/nowhere").status == .notFound)
        }
    }

    @Test("minting an SCEP one-time challenge in the console: an operator's form with the API's validation shown at the field, the secret on the 201 page only (Postgres keeps its SHA-256), audited under the session's actor; no CSRF token or an auditor's forged POST gets 403 and mints nothing")
    func scepChallenge() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.addIssuer("iss-a")
            let endpoint: [String: Any] = ["name": "devices", "issuer_id": "iss-a", "ra_cert_path": "/etc/certctl/ra.crt",
                                           "ra_key_path": "/etc/certctl/ra.key"]
            try #require(try await stack.call(.post, "/api/v1/scep/profiles", .json(endpoint)).status == .created)
            var operatorBrowser = Browser(stack: stack)
            try await operatorBrowser.signIn(stack.keys[.operator]!)
            let list = try await operatorBrowser.get("/ui/enrollment")
            #expect(list.text.contains("href=\"/ui/scep/devices/challenge\""), "an operator is offered minting")
            let form = try await operatorBrowser.get("/ui/scep/devices/challenge")
            #expect(form.status == .ok)
            #expect(form.text.contains("<label for=\"f-ttl_seconds\">") && form.text.contains("name=\"csrf_token\""))

            let noToken = try await operatorBrowser.post("/ui/scep/devices/challenge", ["ttl_seconds": "600"], csrf: false)
            #expect(noToken.status == .forbidden)
            let shortTTL = try await operatorBrowser.post("/ui/scep/devices/challenge", ["ttl_seconds": "10"])
            #expect(shortTTL.status == .badRequest)
            #expect(shortTTL.text.contains("<p class=\"field-error\" id=\"f-ttl_seconds-error\">ttl_seconds must be from 60 to 2592000</p>"))
            #expect(shortTTL.text.contains("value=\"10\""), "the submitted value is kept")
            let badSAN = try await operatorBrowser.post("/ui/scep/devices/challenge", ["ttl_seconds": "600", "expected_sans": "DNS:ok.example\nbogus"])
            #expect(badSAN.status == .badRequest)
            #expect(badSAN.text.contains("id=\"f-expected_sans-error\">expected_sans entry bogus must be TYPE:value"))
            #expect(try await stack.count("SELECT count(*) FROM scep_challenges") == 0)

            let minted = try await operatorBrowser.post("/ui/scep/devices/challenge", [
                "ttl_seconds": "600", "expected_subject": "CN=device-17", "expected_sans": "DNS:Device-17.Example.com\r\nIP:10.0.0.17"])
            #expect(minted.status == .created, "\(minted.text.prefix(400))")
            let secret = try #require(minted.text.range(of: "id=\"challenge-secret\" class=\"secret-value\" readonly value=\"").map {
                String(minted.text[$0.upperBound...].prefix { $0 != "\"" })
            })
            #expect(secret.count == 32)
            #expect(minted.text.contains("DNS:device-17.example.com, IP:10.0.0.17"), "SANs normalised as the API does")
            #expect(minted.headers[.cacheControl] == "no-store")
            let hash = Hex.string(SHA256.hash(data: Data(secret.utf8)))
            #expect(try await stack.count("SELECT count(*) FROM scep_challenges WHERE secret_sha256 = '\\x\(hash)'::bytea AND created_by = 'test-operator' AND expected_subject = 'CN=device-17'") == 1)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'scep_challenge.create' AND actor = 'test-operator' AND position('\(secret)' in details::text) = 0") == 1)
            for path in ["/ui/enrollment", "/ui/scep/devices/challenge", "/ui/audit"] {
                #expect(!(try await operatorBrowser.get(path)).text.contains(secret), "\(path) does not show the secret again")
            }

            var auditor = Browser(stack: stack)
            try await auditor.signIn(stack.keys[.auditor]!)
            #expect(!(try await auditor.get("/ui/enrollment")).text.contains("/challenge\""), "an auditor is not offered minting")
            #expect(try await auditor.get("/ui/scep/devices/challenge").status == .forbidden)
            let forged = try await auditor.post("/ui/scep/devices/challenge", ["ttl_seconds": "600"])
            #expect(forged.status == .forbidden && forged.text.contains("role auditor"))
            #expect(try await stack.count("SELECT count(*) FROM scep_challenges") == 1)
        }
    }

    @Test("profiles in the console: an admin creates, edits and deletes with ProfileRoutes' validation, each refusal next to the field it names and nothing stored; an operator reads without a form and its forged edit gets 403; no CSRF token gets 403")
    func profiles() async throws {
        try await AdminAPIStack.run { stack in
            var admin = Browser(stack: stack)
            try await admin.signIn(stack.keys[.admin]!)
            let list = try await admin.get("/ui/profiles")
            #expect(list.status == .ok)
            #expect(list.text.contains("action=\"/ui/profiles\"") && list.text.contains("<legend>Allowed key algorithms</legend>"))
            let fields: [String: String] = ["id": "web", "description": "Web servers", "allowed_key_algorithms-ecdsa-p256": "on",
                                            "allowed_key_algorithms-rsa-2048": "on", "max_validity_days": "0",
                                            "extended_key_usages-serverAuth": "on", "allowed_san_types-dns": "on",
                                            "san_patterns": "*.example.com\n*.example.net"]
            let zero = try await admin.post("/ui/profiles", fields)
            #expect(zero.status == .badRequest)
            #expect(zero.text.contains("id=\"f-max_validity_days-error\">max_validity_days must be from 1 to 36500</p>"))
            #expect(zero.text.contains("value=\"Web servers\"") && zero.text.contains("id=\"f-allowed_key_algorithms-rsa-2048\" name=\"allowed_key_algorithms-rsa-2048\" value=\"on\" checked"),
                    "the submitted values are kept")
            let badID = try await admin.post("/ui/profiles", fields.merging(["id": "Web!", "max_validity_days": "90"]) { $1 })
            #expect(badID.status == .badRequest && badID.text.contains("id=\"f-id-error\">id must match"))
            #expect(try await stack.count("SELECT count(*) FROM profiles WHERE id = 'web'") == 0)
            #expect(try await admin.post("/ui/profiles", fields.merging(["max_validity_days": "90"]) { $1 }, csrf: false).status == .forbidden)

            let created = try await admin.post("/ui/profiles", fields.merging(["max_validity_days": "90"]) { $1 })
            #expect(created.status == .seeOther && created.location == "/ui/profiles/web?saved=1", "\(created.text.prefix(300))")
            let read = try await stack.call(.get, "/api/v1/profiles/web")
            #expect(read["max_validity_days"] as? Int == 90)
            #expect(read["allowed_key_algorithms"] as? [String] == ["ecdsa-p256", "rsa-2048"])
            #expect(read["san_patterns"] as? [String] == ["*.example.com", "*.example.net"])
            let again = try await admin.post("/ui/profiles", fields.merging(["max_validity_days": "90"]) { $1 })
            #expect(again.status == .conflict && again.text.contains("id=\"f-id-error\">profile web already exists"))

            let edit = try await admin.get("/ui/profiles/web?saved=1")
            #expect(edit.text.contains("Profile web saved.") && edit.text.contains("action=\"/ui/profiles/web\""))
            var changed = fields
            changed["allowed_key_algorithms-ecdsa-p256"] = nil
            changed["allowed_key_algorithms-rsa-2048"] = nil
            changed["max_validity_days"] = "30"
            let empty = try await admin.post("/ui/profiles/web", changed)
            #expect(empty.status == .badRequest)
            #expect(empty.text.contains("id=\"f-allowed_key_algorithms-error\">allowed_key_algorithms must not be empty"))
            #expect(try await stack.call(.get, "/api/v1/profiles/web")["max_validity_days"] as? Int == 90, "nothing stored")
            changed["allowed_key_algorithms-ecdsa-p384"] = "on"
            let saved = try await admin.post("/ui/profiles/web", changed)
            #expect(saved.status == .seeOther && saved.location == "/ui/profiles/web?saved=1")
            let updated = try await stack.call(.get, "/api/v1/profiles/web")
            #expect(updated["max_validity_days"] as? Int == 30 && updated["allowed_key_algorithms"] as? [String] == ["ecdsa-p384"])
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'profile.update' AND actor = 'test-admin' AND target_id = 'web'") == 1)

            var operatorBrowser = Browser(stack: stack)
            try await operatorBrowser.signIn(stack.keys[.operator]!)
            let view = try await operatorBrowser.get("/ui/profiles/web")
            #expect(view.status == .ok && view.text.contains("30 days") && !view.text.contains("action=\"/ui/profiles/web\""))
            #expect(!(try await operatorBrowser.get("/ui/profiles")).text.contains("Create a profile"))
            let forged = try await operatorBrowser.post("/ui/profiles/web", changed.merging(["max_validity_days": "3650"]) { $1 })
            #expect(forged.status == .forbidden)
            #expect(try await stack.call(.get, "/api/v1/profiles/web")["max_validity_days"] as? Int == 30)

            // deleting: an operator's forged POST and an unconfirmed one are refused; default stays; then web goes
            #expect(try await operatorBrowser.post("/ui/profiles/web/delete", ["confirm": "on"]).status == .forbidden)
            #expect(try await admin.post("/ui/profiles/web/delete").status == .badRequest, "the confirmation box is required")
            #expect(try await admin.post("/ui/profiles/default/delete", ["confirm": "on"]).status == .conflict)
            #expect(try await admin.post("/ui/profiles/web/delete", ["confirm": "on"], csrf: false).status == .forbidden)
            #expect(try await stack.count("SELECT count(*) FROM profiles WHERE id IN ('web', 'default')") == 2)
            let gone = try await admin.post("/ui/profiles/web/delete", ["confirm": "on"])
            #expect(gone.status == .seeOther && gone.location == "/ui/profiles?deleted=web")
            #expect(try await admin.get("/ui/profiles?deleted=web").text.contains("Profile web deleted."))
            #expect(try await stack.count("SELECT count(*) FROM profiles WHERE id = 'web'") == 0)
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'profile.delete' AND actor = 'test-admin'") == 1)
        }
    }

    @Test("an export past the hourly limit is a console page (429 with Retry-After, in words), not the API's JSON")
    func exportLimitPage() async throws {
        try await AdminAPIStack.run(signer: true, exportLimitPerHour: 1) { stack in
            let issued = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": try CSRFixture("export.example.com").pem]))
            let id = try #require(issued["id"] as? String)
            var browser = Browser(stack: stack)
            try await browser.signIn(stack.keys[.operator]!)
            #expect(try await browser.get("/ui/certificates/\(id)/export?format=der").status == .ok)
            let limited = try await browser.get("/ui/certificates/\(id)/export?format=pem")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.contentType] == "text/html; charset=utf-8")
            #expect(Int(limited.headers[.retryAfter] ?? "").map { $0 > 0 } == true)
            #expect(limited.text.contains("<h1>Too many exports</h1>") && limited.text.contains("nothing was exported"))
            #expect(limited.text.contains("href=\"/ui/certificates/\(id)\""))
            let pkcs12 = try await browser.post("/ui/certificates/\(id)/export", ["password": "correct horse battery"])
            #expect(pkcs12.status == .tooManyRequests && pkcs12.text.contains("Too many exports"))
        }
    }
}
