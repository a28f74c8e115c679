import CertctlPKI
import Foundation
import Testing

/// A signer outage during SCEP enrollment is the server's fault: the device's challenge must survive it.
extension SCEPEnrollTests {
    @Test("signer unreachable: a PKCSReq with a one-time challenge gets HTTP 503 scep_signer_unavailable, the challenge is given back and the message forgotten; with the signer back the identical resend issues, and the challenge is then used up")
    func signerOutageGivesChallengeBack() async throws {
        try await withStack { stack, children in
            try await ready(stack, children)
            let challenge = try mintChallenge(stack)
            let device = try device(stack, cn: "outage-a", challenge: challenge)
            func unused() async throws -> Int? {
                try await TestEnvironment.scalar("SELECT count(*) FROM scep_challenges WHERE used_at IS NULL", stack.url)
            }
            #expect(try await unused() == 1)

            _ = await children[1].stop()
            let message = try SCEPClientMessage.pkcsReq(csrDER: device.csrDER, transactionID: "tx-outage",
                                                        senderNonce: (0..<16).map { _ in UInt8.random(in: 0...255) },
                                                        client: device.identity, ra: stack.ra.certificate)
            let down = try post(stack.scepURL + "/pkiclient.exe?operation=PKIOperation", message)
            #expect(down.status == 503, "\(String(decoding: down.body, as: UTF8.self))")
            #expect(String(decoding: down.body, as: UTF8.self).contains("scep_signer_unavailable"))
            #expect(try await unused() == 1, "the challenge stayed used after a 503")
            #expect(children[2].stderr.contains("SCEP challenge given back"))

            let signer = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: stack.signerEnvironment)
            defer { if signer.isRunning { kill(signer.process.processIdentifier, SIGKILL) } }
            try await signer.eventually("signer /readyz 200", timeout: .seconds(40)) {
                try await HTTP.get("http://127.0.0.1:\(stack.signerHealthPort)/readyz").status == 200
            }
            // the device's retry sends the same bytes: not a replay, and its challenge is usable again
            let resent = try post(stack.scepURL + "/pkiclient.exe?operation=PKIOperation", message)
            try #require(resent.status == 200, "HTTP \(resent.status): \(String(decoding: resent.body, as: UTF8.self))")
            let retried = try SCEPClientMessage.readCertRep(resent.body, ra: stack.ra.certificate, client: device.identity)
            let audited = try await refusals(stack)
            #expect(retried.status == .success, "\(audited)")
            #expect(try await unused() == 0)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE request_source = 'scep' AND status = 'issued'", stack.url) == 1)

            // given back once, used once: another device presenting it is refused
            let other = try enroll(stack, try self.device(stack, cn: "outage-b", challenge: challenge), transactionID: "tx-outage-b")
            #expect(other.status == .failure && other.failInfo == .badRequest)
            #expect(try await auditCount(stack, code: "scep_challenge_reused") == 1)
            _ = await signer.stop()
        }
    }
}
