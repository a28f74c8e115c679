import Hummingbird

/// The console's only assets: one stylesheet and one small script, served by admin itself (no CDN, no build step).
enum ConsoleAssets {
    static func response(_ text: String, type: String) -> Response {
        var headers = ConsolePage.securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "private, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let css = """
        :root { --fg: #1b1f24; --muted: #5a6270; --line: #d5dae1; --bg: #f6f7f9; --accent: #1f5fbf; --danger: #b3261e; --ok: #1e7b34; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 9; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 8px 20px; background: #18324f; color: #fff; }
        header.top a { color: #fff; } .brand { font-weight: 700; font-size: 18px; }
        nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 14px; margin: 0; padding: 0; }
        nav a { text-decoration: none; padding: 4px 2px; } nav a[aria-current] { border-bottom: 2px solid #fff; font-weight: 600; }
        .who { margin-left: auto; } .role { background: #ffffff30; border-radius: 4px; padding: 1px 6px; margin: 0 6px; }
        main { max-width: 1280px; margin: 0 auto; padding: 12px 20px 40px; }
        h1 { font-size: 24px; margin: 12px 0; } h2 { font-size: 18px; margin: 22px 0 8px; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px; margin: 10px 0; }
        .narrow { max-width: 560px; }
        .search { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; }
        .field { display: flex; flex-direction: column; margin-bottom: 8px; min-width: 180px; }
        label { font-weight: 600; font-size: 13px; margin-bottom: 2px; }
        fieldset.checks { border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; } legend { font-weight: 600; font-size: 13px; }
        label.check { font-weight: 400; font-size: 14px; margin-right: 12px; display: inline-block; } .hint { font-size: 13px; }
        fieldset[aria-invalid] { border-color: var(--danger); }
        input, select, textarea { font: inherit; padding: 5px 7px; border: 1px solid #9aa3ad; border-radius: 4px; background: #fff; }
        input[aria-invalid] { border-color: var(--danger); }
        .field-error { color: var(--danger); margin: 2px 0 0; font-size: 13px; }
        button, .button { font: inherit; display: inline-block; padding: 5px 12px; border: 1px solid #8a94a0; border-radius: 4px;
                          background: #fff; color: var(--fg); cursor: pointer; text-decoration: none; margin: 2px 4px 2px 0; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        button.danger { background: var(--danger); border-color: var(--danger); color: #fff; }
        button.link { background: none; border: none; color: #fff; text-decoration: underline; padding: 0; }
        :focus-visible { outline: 3px solid #f0b429; outline-offset: 1px; }
        form.inline { display: inline; } form.inline label { margin: 0 4px; }
        .table-wrap { overflow-x: auto; } table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef1f4; font-size: 13px; }
        code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; } .wrap { white-space: pre-wrap; word-break: break-all; }
        pre { white-space: pre-wrap; word-break: break-all; font-size: 12px; background: #fff; border: 1px solid var(--line); padding: 8px; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; border: 1px solid var(--line); padding: 12px; border-radius: 6px; }
        dt { font-weight: 600; } dd { margin: 0; word-break: break-word; }
        .status { padding: 1px 6px; border-radius: 4px; background: #e8ecf0; } .status.revoked, .status.failed, .status.denied { background: #fbe3e1; color: var(--danger); }
        .status.issued, .status.success { background: #e1f3e5; color: var(--ok); }
        .notice { padding: 10px 12px; border-radius: 6px; margin: 10px 0; background: #e6effb; border: 1px solid #b6cdf0; }
        .notice.error { background: #fbe3e1; border-color: #efb4ae; } .muted { color: var(--muted); }
        .secret-value { width: 100%; font-family: ui-monospace, monospace; } .danger-zone { border-color: #efb4ae; }
        .error-text { font-size: 16px; } dialog { max-width: 900px; width: 90%; border: 1px solid var(--line); border-radius: 8px; }
        @media (max-width: 700px) { dl.facts { grid-template-columns: 1fr; } .who { margin-left: 0; } }
        """

    /// Progressive enhancement only: the reload form posts normally without it.
    static let js = """
        "use strict";
        document.addEventListener("DOMContentLoaded", function () {
          var modal = document.getElementById("reload-modal");
          if (!modal || typeof modal.showModal !== "function") return;
          document.querySelectorAll("form.reload-form").forEach(function (form) {
            form.addEventListener("submit", function (event) {
              event.preventDefault();
              var target = document.getElementById("reload-modal-body");
              target.textContent = "Reloading…";
              modal.showModal();
              fetch(form.action, { method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
                body: new URLSearchParams(new FormData(form)).toString() })
                .then(function (response) { return response.text(); })
                .then(function (html) {
                  var doc = new DOMParser().parseFromString(html, "text/html");
                  var result = doc.getElementById("reload-result") || doc.querySelector("main");
                  target.replaceChildren(document.importNode(result, true));
                })
                .catch(function () { target.textContent = "The console could not be reached: the reload may not have been requested."; });
            });
          });
        });
        """
}
