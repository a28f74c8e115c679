import CertctlConfig
import CertctlRPC
import Foundation
import Testing
import X509

/// A real certctl-signer process on a fresh test CA, connected to `url` as its
/// own database role, with service identities for `callers`: what in-process
/// and RPC tests sign through (never a fake signer).
struct RunningSigner {
    let ca: TestCA
    let issuer: Certificate
    let identities: ServiceIdentities
    let rpcPort: Int
    let process: ChildProcess

    /// Runs `body` with a ready signer; stops it afterwards (and checks it exits 0 on SIGTERM).
    static func run<T>(_ url: DatabaseURL, callers: [String], _ body: (RunningSigner) async throws -> T) async throws -> T {
        let ca = try TestCA.create()
        defer { ca.remove() }
        let identities = try TestCA.identities(in: ca.directory + "/rpc", for: ["signer"] + callers)
        let rpcPort = freePort(), healthPort = freePort()
        var environment = [
            "CERTCTL_DATABASE_URL": TestEnvironment.urlText(url, as: .signer), "CERTCTL_LOG_FORMAT": "text",
            "CERTCTL_SIGNER_HEALTH_LISTEN": "127.0.0.1:\(healthPort)", "CERTCTL_SIGNER_RPC_LISTEN": "127.0.0.1:\(rpcPort)",
            "CERTCTL_CA_CERT_PATH": ca.certPath, "CERTCTL_CA_KEY_PATH": ca.keyPath,
            "CERTCTL_SIGNER_KEY_DIR": ca.directory + "/generations", "CERTCTL_SIGNER_ARCHIVE_GRACE": "1s",
        ]
        environment.merge(identities.environment(for: "signer")) { a, _ in a }
        let process = try ChildProcess(try TestEnvironment.binary("certctl-signer"), environment: environment)
        defer { process.signal(SIGKILL) }
        try await process.eventually("/readyz 200", timeout: .seconds(40)) {
            try await HTTP.get("http://127.0.0.1:\(healthPort)/readyz").status == 200
        }
        let signer = RunningSigner(
            ca: ca, issuer: try Certificate(pemEncoded: String(contentsOfFile: ca.certPath, encoding: .utf8)),
            identities: identities, rpcPort: rpcPort, process: process)
        let result = try await body(signer)
        #expect(await process.stop() == 0)
        return result
    }

    /// A connection as `identity` (from `identities`, default this signer's).
    func connection(_ identity: String, identities: ServiceIdentities? = nil) throws -> SignerConnection {
        let files = identities ?? self.identities
        return try SignerConnection(
            address: ListenAddress(host: "127.0.0.1", port: rpcPort),
            tls: RPCTLSFiles(certificatePath: "\(files.directory)/\(identity).crt",
                             keyPath: "\(files.directory)/\(identity).key", caPath: "\(files.directory)/ca.crt"))
    }

    /// Runs `body` with a connection as `identity` that is running; closes it afterwards.
    func withConnection<T: Sendable>(_ identity: String, _ body: (SignerConnection) async throws -> T) async throws -> T {
        let connection = try connection(identity)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await connection.run(); return nil }
            defer { connection.close() }
            return try await body(connection)
        }
    }
}
