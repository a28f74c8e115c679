@testable import CertctlCLICore
import Foundation
import NIOHTTP1
import Testing

@Suite struct CLIClientTests {
    @Test("an API path joins a base URL with a path prefix and encodes the query, plus signs included") func anApiPathJoins1() throws {
        let url = try RequestURL.join("https://ca.example.net:8443/admin/", "/api/v1/certificates", query: [("q", "a+b c"), ("limit", "5")])
        #expect(url.isTLS && url.host == "ca.example.net" && url.port == 8443)
        #expect(url.target == "/admin/api/v1/certificates?q=a%2Bb%20c&limit=5")
        #expect(url.authority == "ca.example.net:8443")
    }

    @Test("IP literals are recognised (no SNI for them) and bracketed in the Host header") func ipLiteralsAreRecognised2() throws {
        #expect(try RequestURL("https://127.0.0.1:9/").hostIsIPLiteral)
        let v6 = try RequestURL("http://[::1]:8080/x")
        #expect(v6.host == "::1" && v6.hostIsIPLiteral && v6.authority == "[::1]:8080")
        #expect(try !RequestURL("https://ca.example.net/").hostIsIPLiteral)
        #expect(throws: CLIError.self) { try RequestURL("ftp://ca.example.net/") }
    }

    @Test("the API's typed error maps to its code, message and exit status") func theApiSTyped3() {
        func result(_ status: Int, _ body: String, headers: [(String, String)] = []) -> HTTPResult {
            HTTPResult(status: status, headers: HTTPHeaders(headers), body: Array(body.utf8))
        }
        let notFound = AdminClient.error(from: result(404, #"{"error":"certificate_not_found","message":"no such"}"#))
        #expect(notFound.status == .notFound && notFound.code == "certificate_not_found" && notFound.message == "no such")
        let nested = AdminClient.error(from: result(403, #"{"error":{"code":"forbidden","message":"role auditor"}}"#))
        #expect(nested.status == .unauthenticated && nested.code == "forbidden")
        let limited = AdminClient.error(from: result(429, #"{"error":"export_rate_limited","message":"over"}"#, headers: [("Retry-After", "120")]))
        #expect(limited.status == .failure && limited.message == "over (retry after 120 s)")
        let plain = AdminClient.error(from: result(502, "Bad Gateway"))
        #expect(plain.code == "http_502" && plain.message == "Bad Gateway")
    }

    @Test("a bulk file: comments, blank lines and repeats are skipped") func aBulkFileComments4() {
        let text = "# header\n0a1b \n\n  0a1b\n3f2e # why\n#only comment\n"
        #expect(CertRevokeBulk.parse(text) == ["0a1b", "3f2e"])
    }

    @Test("tables align columns and cut long cells") func tablesAlignColumnsAnd5() {
        var table = Table(["ID", "SUBJECT"])
        table.maxCellWidth = 5
        table.add(["1", "CN=abcdefgh"])
        #expect(table.render() == "ID  SUBJECT\n1   CN=a…")
    }

    @Test("JSON values read by name, absent fields are null, numbers print as integers") func jsonValuesReadBy6() throws {
        let value = try JSONValue.parse(Array(#"{"a": {"b": [1, "x", null]}, "n": 7}"#.utf8))
        #expect(value["a"]["b"].text == "1,x,-")
        #expect(value["n"].int == 7 && value["missing"].isNull)
        #expect(String(decoding: try JSONValue.object(["k": .string("v"), "absent": nil]).encoded(), as: UTF8.self) == #"{"k":"v"}"#)
    }
}

@Suite struct CLIConfigTests {
    func temporaryPath() -> String {
        NSTemporaryDirectory() + "certctl-cli-test-\(UUID().uuidString)/nested/config.json"
    }

    @Test("the config file is written 0600 in a 0700 directory and read back") func theConfigFileIs7() throws {
        let path = temporaryPath()
        var config = ConfigFile()
        config.profiles["default"] = .init(url: "http://127.0.0.1:1", api_key: "cctl_x", cacert: nil)
        config.default_profile = "default"
        try config.save(path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let directory = try FileManager.default.attributesOfItem(atPath: (path as NSString).deletingLastPathComponent)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((directory[.posixPermissions] as? Int) == 0o700)
        #expect(try ConfigFile.load(path) == config)
    }

    @Test("a config file others can read is refused") func aConfigFileOthers8() throws {
        let path = temporaryPath()
        try ConfigFile().save(path)
        chmod(path, 0o644)
        #expect { try ConfigFile.load(path) } throws: { ($0 as? CLIError)?.code == "config_permissions" }
    }

    @Test("options override the environment, which overrides the profile") func optionsOverrideTheEnvironment9() throws {
        let path = temporaryPath()
        var config = ConfigFile()
        config.profiles["default"] = .init(url: "http://profile", api_key: "cctl_profile", cacert: "/ca.pem")
        try config.save(path)
        var options = try GlobalOptions.parse([])
        let fromEnvironment = try Connection.resolve(options, environment: ["CERTCTL_CONFIG": path, "CERTCTL_API_KEY": "cctl_env"])
        #expect(fromEnvironment.url == "http://profile" && fromEnvironment.apiKey == "cctl_env" && fromEnvironment.caFile == "/ca.pem")
        options = try GlobalOptions.parse(["--api-key", "cctl_flag", "--url", "http://flag"])
        let fromFlags = try Connection.resolve(options, environment: ["CERTCTL_CONFIG": path, "CERTCTL_API_KEY": "cctl_env"])
        #expect(fromFlags.url == "http://flag" && fromFlags.apiKey == "cctl_flag")
        #expect { try Connection.resolve(try GlobalOptions.parse(["--profile", "nosuch"]), environment: ["CERTCTL_CONFIG": path]) }
            throws: { ($0 as? CLIError)?.status == .usage }
    }
}
