import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

extension ESTRoutesTests {
    @Test("a flood of 40 wrong passwords from one client is one audit row (count 40) when the window ends, not 40 rows")
    func refusalFlood() async throws {
        try await withEST { h, client in
            let body = try Self.csr("flood").base64
            for _ in 0..<40 {
                let response = try await client.execute(uri: "/.well-known/est/simpleenroll", method: .post,
                                                        headers: Self.basic("device", "wrong-password"), body: ByteBuffer(string: body))
                #expect(response.status == .unauthorized)
                #expect(Self.text(response) == "est_basic_invalid: wrong user name or password\n")
            }
            #expect(try await h.count("SELECT count(*)::int FROM audit_events WHERE outcome = 'denied'") == 0,
                    "nothing is written before the window ends")
            #expect(await h.refusalAudit.flush() == 1)
            let row = try await h.text("""
                SELECT action || ' ' || error_code || ' ' || target_id || ' ' || (details->>'count') || ' ' || (details->>'reason')
                FROM audit_events WHERE outcome = 'denied'
                """)
            #expect(row == "est.simpleenroll est_basic_invalid default 40 wrong user name or password")
        }
    }
}
