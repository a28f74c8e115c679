import CertctlAdminCore
import CertctlConfig
import CertctlRuntime
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Failures of the database or of the server itself never reach an API client: it gets a typed generic
/// error with an incident id, and the details (SQL, relation names, addresses) go to the log under that id.
@Suite("Admin API: server failures answered with an incident id, details only in the log", .timeLimit(.minutes(2)))
struct AdminAPIIncidentTests {
    /// The id in `reply` (16 hex digits, also in the message), checked to be in the log with `detail`.
    func expectIncident(_ reply: APIReply, _ status: HTTPResponse.Status, _ code: String, log: LogCapture, detail: String,
                        sourceLocation: SourceLocation = #_sourceLocation) -> String {
        reply.expectError(status, code, "server failure", sourceLocation: sourceLocation)
        let incident = reply["incident"] as? String ?? ""
        #expect(incident.count == 16 && incident.allSatisfy(\.isHexDigit), "incident id: \(reply.text)", sourceLocation: sourceLocation)
        #expect((reply["message"] as? String)?.contains(incident) == true, "the message quotes the id", sourceLocation: sourceLocation)
        let logged = log.text.split(separator: "\n").filter { $0.contains("incident=\(incident)") }
        #expect(logged.count == 1, "one log line under the incident id: \(log.text.suffix(2000))", sourceLocation: sourceLocation)
        #expect(logged.first?.contains(detail) == true, "the log has the details (\(detail)): \(logged)", sourceLocation: sourceLocation)
        return incident
    }

    @Test("an SQL error (a table renamed away) is 500 internal_error with an incident id; no SQL text in the body")
    func sqlError() async throws {
        let log = LogCapture()
        try await AdminAPIStack.run(logger: log.logger) { stack in
            try await TestEnvironment.execute("ALTER TABLE profiles RENAME TO profiles_moved_away", stack.url)
            let reply = try await stack.call(.get, "/api/v1/profiles")
            _ = expectIncident(reply, .internalServerError, "internal_error", log: log, detail: "42P01")
            for leak in ["profiles", "relation", "SQLSTATE", "42P01", "SELECT"] {
                #expect(!reply.text.contains(leak), "\(leak) in the body: \(reply.text)")
            }
            // the same request by every role, and twice: a fresh id each time
            let again = try await stack.call(.get, "/api/v1/profiles", auth: .role(.auditor))
            #expect(again["incident"] as? String != reply["incident"] as? String)
        }
    }

    @Test("a database that cannot be reached is 503 database_unavailable with an incident id, even before the key is checked")
    func unreachableDatabase() async throws {
        let log = LogCapture()
        try await AdminAPIStack.run(logger: log.logger) { stack in
            // what the readiness monitor does when Postgres stops answering: every query fails at once
            stack.client.markUnreachable()
            defer { stack.client.markReachable() }
            for auth in [APIAuth.role(.admin), .key("cctl_not-a-key")] {
                let reply = try await stack.call(.get, "/api/v1/certificates", auth: auth)
                _ = expectIncident(reply, .serviceUnavailable, "database_unavailable", log: log, detail: "unreachable at the last readiness check")
                for leak in ["Postgres", "postgres", "unreachable", "127.0.0.1", "\(stack.url.port)"] {
                    #expect(!reply.text.contains(leak), "\(leak) in the body: \(reply.text)")
                }
            }
        }
    }
}
