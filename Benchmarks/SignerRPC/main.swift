// certctl-bench-signer: the raw signer RPC rate (SignCertificate over gRPC
// with mutual TLS, including the signer's checks and its database write),
// without the REST API in front. Used by `scripts/bench issuance`.
//
//   certctl-bench-signer --count 5000 --concurrency 64
// reads CERTCTL_DATABASE_URL (+ _PASSWORD_FILE), CERTCTL_SIGNER_ADDR and CERTCTL_RPC_TLS_* (an
// identity allowed to issue, e.g. admin's) from the environment.
import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Crypto
import Foundation
import Logging
import X509

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else {
        return fallback
    }
    return value
}
let count = option("--count", 2000)
let concurrency = option("--concurrency", 64)

let env = Environment(ProcessInfo.processInfo.environment)
let databaseURL = try CommonConfig(env).database  // honours CERTCTL_DATABASE_PASSWORD_FILE
let signerAddress = try env.read(Catalog.signerAddress)
let identity = try RPCIdentityPaths(env)
var logger = Logger(label: "certctl-bench-signer")
logger.logLevel = .error

let database = Database(url: databaseURL, maximumConnections: 8, logger: logger)
let connection = try SignerConnection(address: signerAddress, tls: RPCTLSFiles(identity))

try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await database.run() }
    group.addTask { try await connection.run() }
    defer {
        connection.close()
        group.cancelAll()
    }
    let issuers = IssuerStore(client: database.client, logger: logger)
    guard let issuer = try await issuers.get("iss-local") else { fatalError("issuer iss-local not registered") }
    let issuerCertificate = try Certificate(derEncoded: issuer.certificateDER)
    let certificates = CertificateRecordStore(client: database.client, logger: logger)

    // Prepare outside the timed section: reserved rows and their TBS bytes.
    let key = P256.Signing.PrivateKey()
    var requests: [LeafSigningRequest] = []
    let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    for index in 0..<count {
        let serial = SerialNumber.random()
        let hex = SerialNumber.canonicalHex(ofDERInteger: serial)!
        guard case .reserved(let id, _) = try await certificates.reserve(CertificateReservation(
            issuerID: issuer.id, issuerGeneration: issuer.generation, serialHex: hex, profileID: "default",
            subject: "CN=bench-\(index).example.com",
            subjectDER: try ReservationFields.subjectDER(try SubjectName.parse("CN=bench-\(index).example.com")),
            spkiSHA256: try ReservationFields.spkiSHA256(Certificate.PublicKey(key.publicKey)),
            subjectAltNames: ["DNS:bench-\(index).example.com"],
            notBefore: now, notAfter: now.addingTimeInterval(86_400 * 30), csrDER: [], requestedBy: "bench",
            source: "internal", idempotencyKey: nil, requestFingerprint: nil))
        else { fatalError("reservation failed") }
        let tbs = try TBSCertificateBuilder.leaf(LeafCertificateContent(
            serial: serial, subject: try SubjectName.parse("CN=bench-\(index).example.com"),
            publicKey: Certificate.PublicKey(key.publicKey), notBefore: now, notAfter: now.addingTimeInterval(86_400 * 30),
            subjectAlternativeNames: [.dnsName("bench-\(index).example.com")], extendedKeyUsages: [.serverAuth, .clientAuth],
            ocspURL: "http://127.0.0.1/.well-known/pki/ocsp/iss-local", crlURL: "http://127.0.0.1/.well-known/pki/crl/iss-local",
            caIssuersURL: "http://127.0.0.1/.well-known/pki/ca/iss-local.crt"), issuer: issuerCertificate)
        requests.append(LeafSigningRequest(issuerID: issuer.id, issuerGeneration: issuer.generation, tbs: tbs,
                                           profileID: "default", certificateID: id, requestedBy: "bench"))
    }
    // Warm the connection.
    let signer = connection.signing
    _ = try await signer.activeIssuer(issuer.id)

    let batch = requests
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { workers in
        for worker in 0..<concurrency {
            workers.addTask {
                var index = worker
                while index < batch.count {
                    _ = try await signer.signLeaf(batch[index], timeout: .seconds(30), waitForReady: true)
                    index += concurrency
                }
            }
        }
        try await workers.waitForAll()
    }
    let elapsed = started.duration(to: .now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(String(format: "signer RPC: %d certificates in %.2f s at concurrency %d = %.0f/s", count, seconds, concurrency,
                 Double(count) / seconds))
}
