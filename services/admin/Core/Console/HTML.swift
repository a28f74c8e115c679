import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird

/// Server-rendered HTML: every value that did not come from this file goes through `HTML.escape`
/// (text and attribute values alike), so a hostile subject, SAN or audit detail is shown, never run.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Percent-encodes a query value.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "—" }
        let text = date.ISO8601Format()
        return "<time datetime=\"\(text)\">\(text.replacingOccurrences(of: "T", with: " "))</time>"
    }

    /// "in 3 d" / "5 min ago".
    static func relative(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "" }
        let seconds = date.timeIntervalSince(now)
        let magnitude = abs(seconds)
        let text: String
        switch magnitude {
        case ..<120: text = "\(Int(magnitude)) s"
        case ..<7200: text = "\(Int(magnitude / 60)) min"
        case ..<172_800: text = "\(Int(magnitude / 3600)) h"
        default: text = "\(Int(magnitude / 86400)) d"
        }
        return seconds >= 0 ? "in \(text)" : "\(text) ago"
    }

    /// The hidden CSRF field every state-changing form carries.
    static func csrf(_ session: ConsoleSession) -> String {
        "<input type=\"hidden\" name=\"csrf_token\" value=\"\(escape(session.csrfToken))\">"
    }

    /// A labelled input.
    static func field(_ label: String, name: String, value: String = "", type: String = "text", required: Bool = false,
                      error: String? = nil, extra: String = "") -> String {
        let id = "f-" + name
        var html = "<div class=\"field\"><label for=\"\(id)\">\(escape(label))</label>"
        html += "<input id=\"\(id)\" name=\"\(escape(name))\" type=\"\(type)\" value=\"\(escape(value))\"\(required ? " required" : "")"
        if error != nil { html += " aria-invalid=\"true\" aria-describedby=\"\(id)-error\"" }
        html += " \(extra)>"
        if let error { html += "<p class=\"field-error\" id=\"\(id)-error\">\(escape(error))</p>" }
        return html + "</div>"
    }

    /// A labelled select; `options` are (value, label).
    static func select(_ label: String, name: String, options: [(String, String)], selected: String?, error: String? = nil) -> String {
        let id = "f-" + name
        var html = "<div class=\"field\"><label for=\"\(id)\">\(escape(label))</label><select id=\"\(id)\" name=\"\(escape(name))\">"
        for (value, text) in options {
            html += "<option value=\"\(escape(value))\"\(value == selected ? " selected" : "")>\(escape(text))</option>"
        }
        html += "</select>"
        if let error { html += "<p class=\"field-error\" id=\"\(id)-error\">\(escape(error))</p>" }
        return html + "</div>"
    }

    /// A labelled multi-line text input.
    static func textarea(_ label: String, name: String, value: String = "", rows: Int = 3, error: String? = nil, hint: String? = nil) -> String {
        let id = "f-" + name
        var html = "<div class=\"field\"><label for=\"\(id)\">\(escape(label))</label>"
        if let hint { html += "<span class=\"muted hint\" id=\"\(id)-hint\">\(escape(hint))</span>" }
        html += "<textarea id=\"\(id)\" name=\"\(escape(name))\" rows=\"\(rows)\""
        if hint != nil { html += " aria-describedby=\"\(id)-hint\(error != nil ? " \(id)-error" : "")\"" }
        else if error != nil { html += " aria-describedby=\"\(id)-error\"" }
        if error != nil { html += " aria-invalid=\"true\"" }
        html += ">\(escape(value))</textarea>"
        if let error { html += "<p class=\"field-error\" id=\"\(id)-error\">\(escape(error))</p>" }
        return html + "</div>"
    }

    /// A group of labelled checkboxes named `name`-`value`; `options` are (value, label).
    static func checkboxes(_ legend: String, name: String, options: [(String, String)], checked: Set<String>, error: String? = nil) -> String {
        let id = "f-" + name
        var html = "<fieldset class=\"field checks\" id=\"\(id)\"\(error != nil ? " aria-invalid=\"true\" aria-describedby=\"\(id)-error\"" : "")>"
        html += "<legend>\(escape(legend))</legend>"
        for (value, text) in options {
            let box = "\(id)-\(escape(value))"
            html += "<label class=\"check\" for=\"\(box)\"><input type=\"checkbox\" id=\"\(box)\" name=\"\(escape(name))-\(escape(value))\" value=\"on\""
            html += "\(checked.contains(value) ? " checked" : "")> \(escape(text))</label>"
        }
        if let error { html += "<p class=\"field-error\" id=\"\(id)-error\">\(escape(error))</p>" }
        return html + "</fieldset>"
    }

    static func table(_ headers: [String], _ rows: [[String]], empty: String = "Nothing to show.") -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        var html = "<div class=\"table-wrap\"><table><thead><tr>"
        for header in headers { html += "<th scope=\"col\">\(escape(header))</th>" }
        html += "</tr></thead><tbody>"
        for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return html + "</tbody></table></div>"
    }

    static func notice(_ text: String, kind: String = "info") -> String {
        "<div class=\"notice \(kind)\" role=\"\(kind == "error" ? "alert" : "status")\">\(escape(text))</div>"
    }
}

/// One page of the console: layout around `body`.
struct ConsolePage {
    var title: String
    var body: String
    var session: ConsoleSession?
    var status: HTTPResponse.Status = .ok
    /// The navigation entry to mark as current.
    var section: String = ""

    static let navigation: [(String, String, String)] = [
        ("dashboard", "/ui/", "Dashboard"),
        ("certificates", "/ui/certificates", "Certificates"),
        ("approvals", "/ui/approvals", "Approvals"),
        ("profiles", "/ui/profiles", "Profiles"),
        ("enrollment", "/ui/enrollment", "SCEP & EST"),
        ("keys", "/ui/api-keys", "API keys"),
        ("audit", "/ui/audit", "Audit log"),
    ]

    func render() -> String {
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title)) · certctl</title>
            <link rel="stylesheet" href="/ui/static/console.css">
            <script src="/ui/static/console.js" defer></script>
            </head><body>
            <a class="skip" href="#main">Skip to content</a>
            <header class="top"><span class="brand">certctl</span>
            """
        if let session {
            html += "<nav aria-label=\"Main\"><ul>"
            for (key, href, label) in Self.navigation {
                html += "<li><a href=\"\(href)\"\(key == section ? " aria-current=\"page\"" : "")>\(label)</a></li>"
            }
            html += "</ul></nav><div class=\"who\">Signed in as <strong>\(HTML.escape(session.principal.actor))</strong>"
            html += " <span class=\"role\">\(session.principal.role.rawValue)</span>"
            html += "<form method=\"post\" action=\"/ui/logout\" class=\"inline\">\(HTML.csrf(session))"
            html += "<button type=\"submit\" class=\"link\">Sign out</button></form></div>"
        }
        html += "</header><main id=\"main\"><h1>\(HTML.escape(title))</h1>\n\(body)\n</main></body></html>\n"
        return html
    }

    func response() -> Response {
        var headers = ConsolePage.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: render())))
    }

    static var securityHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return headers
    }
}
