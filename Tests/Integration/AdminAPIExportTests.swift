import CertctlAdminCore
import CertctlPKI
import CertctlStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import SwiftASN1
import X509

/// `GET /api/v1/certificates/{id}/export` (docs/export.md): four formats, each read back by openssl;
/// who may export; the per-key hourly limit, held in Postgres across two admin replicas; every outcome audited.
@Suite("Admin API: certificate export", .serialized, .timeLimit(.minutes(3)))
struct AdminAPIExportTests {
    /// Issues a certificate through the real signer; returns its id and DER.
    func issue(_ stack: AdminAPIStack, _ name: String = "export.example.com") async throws -> (id: String, der: [UInt8]) {
        let csr = try CSRFixture(name)
        let reply = try await stack.call(.post, "/api/v1/certificates", .json(["csr_pem": csr.pem]))
        try #require(reply.status == .created, "\(reply.text)")
        let pem = try #require(reply["certificate_pem"] as? String)
        return (try #require(reply["id"] as? String), try PEMDocument(pemString: pem).derBytes)
    }

    /// openssl with `input` written to a file; its exit status and combined output.
    static func openssl(_ arguments: [String], input: [UInt8], in directory: String) throws -> (status: Int32, output: String) {
        let path = directory + "/export-\(UUID().uuidString)"
        try Data(input).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments.map { $0 == "IN" ? path : $0 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test("pem is the certificate and its issuer, der the certificate, pkcs7 a certs-only bundle and pkcs12 an AES-256/PBKDF2 file with a SHA-256 MAC that openssl opens with the password only; each audited with its format")
    func formats() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let (id, leaf) = try await issue(stack)
            let caDER = try PEMDocument(pemString: String(contentsOfFile: stack.ca.certPath, encoding: .utf8)).derBytes
            let base = "/api/v1/certificates/\(id)/export"

            let pem = try await stack.call(.get, base + "?format=pem", auth: .role(.operator))
            #expect(pem.status == .ok && pem.headers[.contentType] == "application/pem-certificate-chain")
            #expect(pem.headers[.contentDisposition]?.hasPrefix("attachment; filename=") == true)
            let chain = try PEMDocument.parseMultiple(pemString: pem.text).map(\.derBytes)
            #expect(chain == [leaf, caDER])
            let verified = try Self.openssl(["verify", "-CAfile", stack.ca.certPath, "IN"], input: Array(pem.text.utf8), in: stack.ca.directory)
            #expect(verified.status == 0, "\(verified.output)")

            let der = try await stack.call(.get, base + "?format=der")
            #expect(der.status == .ok && der.bytes == leaf && der.headers[.contentType] == "application/pkix-cert")

            let pkcs7 = try await stack.call(.get, base + "?format=pkcs7")
            #expect(pkcs7.status == .ok)
            let printed = try Self.openssl(["pkcs7", "-inform", "DER", "-in", "IN", "-print_certs"], input: pkcs7.bytes, in: stack.ca.directory)
            #expect(printed.status == 0 && printed.output.components(separatedBy: "BEGIN CERTIFICATE").count == 3, "\(printed.output)")

            let password = "correct horse battery"
            let pkcs12 = try await stack.call(.get, base + "?format=pkcs12", headers: ["Certctl-Export-Password": password])
            #expect(pkcs12.status == .ok && pkcs12.headers[.contentType] == "application/x-pkcs12")
            let info = try Self.openssl(["pkcs12", "-in", "IN", "-info", "-nokeys", "-passin", "pass:\(password)"],
                                        input: pkcs12.bytes, in: stack.ca.directory)
            #expect(info.status == 0, "\(info.output)")
            #expect(info.output.contains("MAC: sha256"), "\(info.output)")
            #expect(info.output.contains("PBES2, PBKDF2, AES-256-CBC"), "\(info.output)")
            #expect(info.output.components(separatedBy: "BEGIN CERTIFICATE").count == 3)
            let wrong = try Self.openssl(["pkcs12", "-in", "IN", "-info", "-nokeys", "-passin", "pass:wrong password"],
                                         input: pkcs12.bytes, in: stack.ca.directory)
            #expect(wrong.status != 0, "a wrong password fails the MAC: \(wrong.output)")

            let events = try await stack.call(.get, "/api/v1/audit?action=certificate.export&target_id=\(id)")
            #expect(events.items.compactMap { ($0["details"] as? [String: String])?["format"] }.sorted() == ["der", "pem", "pkcs12", "pkcs7"])
            #expect(events.items.allSatisfy { $0["outcome"] as? String == "success" })
        }
    }

    @Test("an auditor is refused, an unknown id is 404, a bad format or a missing PKCS#12 password is 400: each audited with its code")
    func refusals() async throws {
        try await AdminAPIStack.run(signer: true) { stack in
            let (id, _) = try await issue(stack)
            let base = "/api/v1/certificates/\(id)/export"
            try await stack.call(.get, base, auth: .role(.auditor)).expectError(.forbidden, "forbidden", "auditor")
            try await stack.call(.get, "/api/v1/certificates/\(UUID())/export").expectError(.notFound, "certificate_not_found", "unknown")
            try await stack.call(.get, base + "?format=jks").expectError(.badRequest, "invalid_format", "jks")
            try await stack.call(.get, base + "?format=pkcs12").expectError(.badRequest, "password_required", "no password")
            try await stack.call(.get, base + "?format=pkcs12", headers: ["Certctl-Export-Password": "short"])
                .expectError(.badRequest, "password_required", "short password")
            try await stack.call(.get, base, auth: .none).expectError(.unauthorized, "unauthenticated", "no key")
            let codes = try await stack.call(.get, "/api/v1/audit?action=certificate.export").items.compactMap { $0["error_code"] as? String }
            #expect(codes.sorted() == ["certificate_not_found", "forbidden", "invalid_format", "password_required", "password_required"])
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE action = 'certificate.export' AND outcome = 'denied'") == 1)
        }
    }

    @Test("the hourly limit counts per key across two admin replicas on one database: 429 with Retry-After once it is used, audited as export_rate_limited; another key still exports")
    func limitAcrossReplicas() async throws {
        try await AdminAPIStack.run(signer: true, exportLimitPerHour: 3) { stack in
            let (id, _) = try await issue(stack)
            let path = "/api/v1/certificates/\(id)/export?format=der"
            // A second replica: its own router and connection pool, the same database and signer.
            let database = Database(url: stack.url, maximumConnections: 2, logger: TestEnvironment.logger)
            let router = Router()
            try AdminAPI.addRoutes(to: router, database: database, signing: stack.signing, urls: AdminAPIStack.urls,
                                   exportLimitPerHour: 3, logger: TestEnvironment.logger)
            let replica = Application(router: router, services: [database], logger: TestEnvironment.logger)
            try await replica.test(.router) { other in
                func exportOnReplica() async throws -> HTTPResponse.Status {
                    var headers = HTTPFields()
                    headers[.authorization] = "Bearer \(stack.keys[.admin]!)"
                    return try await other.executeRequest(uri: path, method: .get, headers: headers, body: nil).status
                }
                #expect(try await stack.call(.get, path).status == .ok)
                #expect(try await exportOnReplica() == .ok)
                #expect(try await stack.call(.get, path).status == .ok)
                #expect(try await exportOnReplica() == .tooManyRequests, "the fourth export, on the other replica")
                let limited = try await stack.call(.get, path)
                limited.expectError(.tooManyRequests, "export_rate_limited", "over the limit")
                let retryAfter = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
                #expect((3_500...3_600).contains(retryAfter), "the first export leaves the window in about an hour: \(retryAfter)")
                #expect(try await stack.call(.get, path, auth: .role(.operator)).status == .ok, "the limit is per key")
            }
            #expect(try await stack.count("SELECT count(*) FROM audit_events WHERE error_code = 'export_rate_limited'") == 2)
            #expect(try await stack.count("SELECT count(*) FROM certificate_exports") == 4)
        }
    }
}
