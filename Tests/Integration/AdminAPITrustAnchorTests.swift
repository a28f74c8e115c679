import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import Testing

/// `/api/v1/admin/trust-anchors`: trust bundles and their reload on the enrollment replicas.
@Suite("Admin API: trust anchors", .serialized, .timeLimit(.minutes(2)))
struct AdminAPITrustAnchorTests {
    @Test("POST records a trust anchor (201, purpose est-mtls unless named); the listing shows it not yet loaded; refusals: 409 for an existing name, 400 for a bad name, purpose or relative path; nothing changes")
    func create() async throws {
        try await AdminAPIStack.run { stack in
            let path = "/api/v1/admin/trust-anchors"
            let created = try await stack.call(.post, path, .json(["name": "clients", "path": "/etc/certctl/clients.pem"]))
            #expect(created.status == .created, "\(created.text)")
            #expect(created["purpose"] as? String == "est-mtls")
            let connector = try await stack.call(.post, path, .json([
                "name": "connector", "purpose": "scep-signed-challenge", "path": "/etc/certctl/connector.pem",
            ]))
            #expect(connector.status == .created, "\(connector.text)")
            let list = try await stack.call(.get, path, auth: .role(.operator))
            #expect(list.status == .ok)
            #expect(list.items.compactMap { $0["name"] as? String } == ["clients", "connector"])
            let first = try #require(list.items.first)
            #expect(first["path"] as? String == "/etc/certctl/clients.pem")
            #expect(isNull(first["sha256"]) && isNull(first["certificate_count"]) && isNull(first["last_reload_error"]),
                    "no replica has loaded it yet: \(list.text)")
            #expect(try await stack.count(
                "SELECT count(*) FROM audit_events WHERE action = 'trust_anchor.create' AND actor = 'test-admin'") == 2)

            try await stack.expectRefused(.conflict, "trust_anchor_exists", .post, path,
                                          .json(["name": "clients", "path": "/etc/certctl/other.pem"]))
            for body: [String: Any] in [
                ["name": "Clients", "path": "/etc/a.pem"], ["name": "clients\n", "path": "/etc/a.pem"],
                ["name": "other", "purpose": "tls", "path": "/etc/a.pem"], ["name": "other", "path": "etc/a.pem"],
                ["name": "other"], ["path": "/etc/a.pem"],
            ] {
                try await stack.expectRefused(.badRequest, "invalid_request", .post, path, .json(body))
            }
        }
    }

    @Test("reloading an unknown trust anchor is 404 trust_anchor_not_found; when no enrollment replica answers within wait_ms it is 504 no_replica_answered, the request itself recorded and audited")
    func reloadWithoutReplicas() async throws {
        try await AdminAPIStack.run { stack in
            try await stack.expectRefused(.notFound, "trust_anchor_not_found", .post, "/api/v1/admin/trust-anchors/nope/reload")
            try #require(try await stack.call(.post, "/api/v1/admin/trust-anchors",
                                              .json(["name": "clients", "path": "/etc/clients.pem"])).status == .created)
            let started = ContinuousClock.now
            let reply = try await stack.call(.post, "/api/v1/admin/trust-anchors/clients/reload?wait_ms=200")
            reply.expectError(.gatewayTimeout, "no_replica_answered", "reload with no replica")
            #expect(started.duration(to: .now) < .seconds(3), "wait_ms bounds the wait")
            #expect(try await stack.count(
                "SELECT count(*) FROM trust_anchor_reloads WHERE name = 'clients' AND requested_by = 'test-admin'") == 1)
            #expect(try await stack.count("""
                SELECT count(*) FROM audit_events WHERE action = 'trust_anchor.reload' AND target_id = 'clients'
                AND details->>'reload_id' = (SELECT id::text FROM trust_anchor_reloads)
                """) == 1)
        }
    }

    @Test("with a real certctl-enroll replica: a good bundle reloads (200, its count and SHA-256); a broken one is refused (422 trust_bundle_unparsable), the replica and the listing keep the old pool's count and SHA-256 and show the error")
    func reloadOnReplica() async throws {
        try await AdminAPIStack.run { stack in
            let bundle = stack.ca.directory + "/bundle.pem"
            try FileManager.default.copyItem(atPath: stack.ca.certPath, toPath: bundle)
            let goodSHA = Hex.string(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: bundle))))
            try #require(try await stack.call(.post, "/api/v1/admin/trust-anchors",
                                              .json(["name": "clients", "path": bundle])).status == .created)
            let identities = try TestCA.identities(in: stack.ca.directory + "/rpc", for: ["enroll"])
            let enroll = try ChildProcess(try TestEnvironment.binary("certctl-enroll"), environment: [
                "CERTCTL_DATABASE_URL": TestEnvironment.urlText(stack.url), "CERTCTL_LOG_FORMAT": "text", "CERTCTL_DATABASE_POOL_SIZE": "2",
                "CERTCTL_ENROLL_LISTEN": "127.0.0.1:\(freePort())", "CERTCTL_SIGNER_ADDR": "127.0.0.1:\(freePort())",
            ].merging(identities.environment(for: "enroll")) { a, _ in a })
            defer { enroll.signal(SIGKILL) }

            // The replica loads every bundle at start, then listens; retry until its LISTEN is up.
            var good: APIReply?
            try await enroll.eventually("a replica answers the reload") {
                let reply = try await stack.call(.post, "/api/v1/admin/trust-anchors/clients/reload?wait_ms=1000")
                if reply.status != .gatewayTimeout { good = reply }
                return good != nil
            }
            let loaded = try #require(good)
            #expect(loaded.status == .ok, "\(loaded.text)")
            let replicas = loaded.json["replicas"] as? [[String: Any]] ?? []
            #expect(replicas.count == 1, "\(loaded.text)")
            #expect(replicas.first?["ok"] as? Bool == true)
            #expect(replicas.first?["certificate_count"] as? Int == 1)
            #expect(replicas.first?["sha256"] as? String == goodSHA)

            try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(toFile: bundle, atomically: true, encoding: .utf8)
            let broken = try await stack.call(.post, "/api/v1/admin/trust-anchors/clients/reload?wait_ms=3000")
            #expect(broken.status == .unprocessableContent, "\(broken.text)")
            let refused = broken.json["replicas"] as? [[String: Any]] ?? []
            #expect(refused.count == 1, "\(broken.text)")
            #expect(refused.first?["ok"] as? Bool == false)
            #expect(refused.first?["error"] as? String == "trust_bundle_unparsable")
            #expect((refused.first?["message"] as? String)?.isEmpty == false)
            #expect(refused.first?["certificate_count"] as? Int == 1, "the replica keeps the old pool: \(broken.text)")
            #expect(refused.first?["sha256"] as? String == goodSHA)

            let listed = try await stack.call(.get, "/api/v1/admin/trust-anchors")
            let anchor = try #require(listed.items.first)
            #expect(anchor["certificate_count"] as? Int == 1, "\(listed.text)")
            #expect(anchor["sha256"] as? String == goodSHA)
            #expect((anchor["last_reload_error"] as? String)?.contains("trust_bundle_unparsable") == true, "\(listed.text)")
            #expect(await enroll.stop() == 0, "\(enroll.stderr.suffix(2000))")
        }
    }
}
