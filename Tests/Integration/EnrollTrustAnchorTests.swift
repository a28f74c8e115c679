import CertctlConfig
import CertctlStore
import Foundation
import Testing

/// Two certctl-enroll replicas with EST listeners, one admin, one signer: a
/// trust-bundle reload requested through the admin API reaches both replicas
/// through NOTIFY and each reports its own result; a broken bundle is refused
/// by both, which keep their old pool; SIGHUP reloads one replica.
@Suite("Trust-bundle reload across enrollment replicas", .serialized)
struct EnrollTrustAnchorTests {
    func openssl(_ arguments: [String]) throws { try TestCA.run("/usr/bin/openssl", arguments) }

    func curl(_ arguments: [String]) throws -> (status: Int, body: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-m", "20", "-o", output, "-w", "%{http_code}"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let status = Int(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) ?? 0
        process.waitUntilExit()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    @Test("reload via the admin API: both replicas answer; a broken bundle keeps the old pool on both; SIGHUP reloads one")
    func reloadAcrossReplicas() async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            let ca = try TestCA.create()
            defer { ca.remove() }
            let dir = ca.directory
            let identities = try TestCA.identities(in: dir + "/rpc", for: ["signer", "admin", "enroll"])
            // EST TLS certificate from the test CA; two external client CAs for the bundle.
            try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/tls.key",
                         "-out", "\(dir)/tls.csr", "-subj", "/CN=localhost"])
            try openssl(["x509", "-req", "-in", "\(dir)/tls.csr", "-CA", ca.certPath, "-CAkey", ca.keyPath, "-CAcreateserial",
                         "-days", "2", "-out", "\(dir)/tls.crt"])
            chmod("\(dir)/tls.key", 0o600)
            for name in ["client-ca-1", "client-ca-2"] {
                try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                             "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt", "-subj", "/CN=\(name)", "-days", "2"])
            }
            let bundle = "\(dir)/bundle.pem"
            try FileManager.default.copyItem(atPath: "\(dir)/client-ca-1.crt", toPath: bundle)

            let signerRPC = freePort(), adminPort = freePort(), apiKey = APIKeyStore.generate()
            let common = ["CERTCTL_LOG_FORMAT": "text", "CERTCTL_SIGNER_ADDR": "127.0.0.1:\(signerRPC)"]
            func env(_ service: String, _ extra: [String: String]) -> [String: String] {
                common.merging(identities.environment(for: service)) { a, _ in a }.merging(extra) { a, _ in a }
                    .merging(["CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: ServiceName(rawValue: service)!)]) { a, _ in a }
            }
            var children = [
                try ChildProcess(try TestEnvironment.binary("certctl-admin"), environment: env("admin", [
                    "CERTCTL_ADMIN_LISTEN": "127.0.0.1:\(adminPort)", "CERTCTL_API_KEY": apiKey])),
                try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: env("signer", [
                    "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(freePort())", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(signerRPC)",
                    "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath])),
            ]
            var enrollPorts: [Int] = []
            for _ in 0..<2 {
                let port = freePort()
                enrollPorts.append(port)
                children.append(try ChildProcess(try TestEnvironment.binary("certctl-enroll"), environment: env("enroll", [
                    "CERTCTL_ENROLL_LISTEN": "127.0.0.1:\(port)", "CERTCTL_EST_LISTEN": "127.0.0.1:\(freePort())",
                    "CERTCTL_EST_TLS_CERT": "\(dir)/tls.crt", "CERTCTL_EST_TLS_KEY": "\(dir)/tls.key"])))
            }
            defer { for child in children { child.signal(SIGKILL) } }
            for (child, port) in zip([children[0], children[2], children[3]], [adminPort] + enrollPorts) {
                try await child.eventually("/readyz 200", timeout: .seconds(40)) {
                    try await HTTP.get("http://127.0.0.1:\(port)/readyz").status == 200
                }
            }
            let admin = "http://127.0.0.1:\(adminPort)/api/v1/admin/trust-anchors"
            let auth = ["-H", "Authorization: Bearer \(apiKey)", "-H", "Content-Type: application/json"]
            let created = try curl(auth + ["-d", #"{"name": "clients", "purpose": "est-mtls", "path": "\#(bundle)"}"#, admin])
            #expect(created.status == 201, "\(created.body)")
            // Give both replicas' LISTEN a moment to be established before the first NOTIFY.
            try await Task.sleep(for: .seconds(1))

            let first = try curl(auth + ["-X", "POST", admin + "/clients/reload"])
            #expect(first.status == 200, "\(first.body)")
            let replicas = try #require(try json(first.body)["replicas"] as? [[String: Any]])
            #expect(replicas.count == 2, "both replicas answer: \(first.body)")
            #expect(replicas.allSatisfy { $0["ok"] as? Bool == true && $0["certificate_count"] as? Int == 1 })

            try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(toFile: bundle, atomically: true, encoding: .utf8)
            let broken = try curl(auth + ["-X", "POST", admin + "/clients/reload"])
            #expect(broken.status == 422, "\(broken.body)")
            let refused = try #require(try json(broken.body)["replicas"] as? [[String: Any]])
            #expect(refused.count == 2)
            #expect(refused.allSatisfy { $0["ok"] as? Bool == false && $0["error"] as? String == "trust_bundle_unparsable" })
            #expect(refused.allSatisfy { $0["certificate_count"] as? Int == 1 }, "the old pool stays: \(broken.body)")

            // SIGHUP to one replica: it reloads every bundle from disk and records the result.
            let both = try String(contentsOfFile: "\(dir)/client-ca-1.crt", encoding: .utf8)
                + String(contentsOfFile: "\(dir)/client-ca-2.crt", encoding: .utf8)
            try both.write(toFile: bundle, atomically: true, encoding: .utf8)
            children[2].signal(SIGHUP)
            try await children[2].eventually("SIGHUP reload recorded", timeout: .seconds(10)) {
                try await TestEnvironment.scalar(
                    "SELECT coalesce(certificate_count, 0) FROM trust_anchors WHERE name = 'clients' AND last_reload_error IS NULL", url) == 2
            }
            #expect(children[2].isRunning, "SIGHUP does not stop the process")
            for child in children { await child.stop() }
        }
    }
}
