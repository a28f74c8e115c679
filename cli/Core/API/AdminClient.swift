import Foundation
import NIOHTTP1

/// The admin REST API as the CLI uses it: bearer authentication, JSON bodies, and the API's typed
/// errors (`{"error": code, "message": text}`) turned into CLIErrors with the matching exit status.
struct AdminClient: Sendable {
    let connection: Connection
    let http: HTTPClient

    init(_ connection: Connection) {
        self.connection = connection
        http = HTTPClient(caFile: connection.caFile, timeoutSeconds: connection.timeoutSeconds)
    }

    /// A JSON response: its raw bytes (what `--output json` prints) and the parsed value.
    struct Reply: Sendable {
        let raw: [UInt8]
        let json: JSONValue
        let status: Int
    }

    func get(_ path: String, query: [(String, String)] = []) async throws -> Reply {
        try await json(.GET, path, query: query, body: nil)
    }

    func post(_ path: String, _ body: JSONValue = [:], headers: [(String, String)] = []) async throws -> Reply {
        try await json(.POST, path, query: [], body: body, headers: headers)
    }

    func delete(_ path: String) async throws {
        _ = try await send(.DELETE, path)
    }

    func json(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: JSONValue?,
              headers: [(String, String)] = []) async throws -> Reply {
        let result = try await send(method, path, query: query, body: try body?.encoded(),
                                    headers: headers + [("Accept", "application/json")])
        guard !result.body.isEmpty else { return Reply(raw: [], json: .null, status: result.status) }
        do {
            return Reply(raw: result.body, json: try JSONValue.parse(result.body), status: result.status)
        } catch {
            throw CLIError(.failure, "invalid_response", "\(method) \(path): the server answered HTTP \(result.status) with a body that is not JSON")
        }
    }

    /// Any request; a status outside 2xx becomes the API's typed error.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
              headers: [(String, String)] = []) async throws -> HTTPResult {
        let url = try RequestURL.join(connection.url, path, query: query)
        var all = [("Authorization", "Bearer \(connection.apiKey)")] + headers
        if body != nil { all.append(("Content-Type", "application/json")) }
        let result = try await http.send(method, url, headers: all, body: body)
        guard (200..<300).contains(result.status) else { throw Self.error(from: result) }
        return result
    }

    /// The API's error: `{"error": "code", "message": "..."}`, also accepting `{"error": {"code", "message"}}`.
    static func error(from result: HTTPResult) -> CLIError {
        let status = CLIError.status(forHTTP: result.status)
        let json = try? JSONValue.parse(result.body)
        var code = json?["error"].string ?? json?["error"]["code"].string
        var message = json?["message"].string ?? json?["error"]["message"].string
        if code == nil {
            code = "http_\(result.status)"
            let text = String(decoding: result.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            message = message ?? (text.isEmpty ? "HTTP \(result.status) without a body" : text)
        }
        var text = message ?? "HTTP \(result.status)"
        if result.status == 429, let retry = result.header("Retry-After") { text += " (retry after \(retry) s)" }
        return CLIError(status, code!, text)
    }
}

extension String {
    /// A path segment, percent-encoded (ids and names come from the command line).
    var pathSegment: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? self
    }
}
