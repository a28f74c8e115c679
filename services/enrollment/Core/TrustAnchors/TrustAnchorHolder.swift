import CertctlConfig
import Crypto
import Foundation
import Synchronization
import SwiftASN1
import X509

/// The current certificate pool of every trust bundle (EST mTLS client CAs and
/// SCEP signed-challenge connector certificates). A reload
/// parses the whole file first and swaps the pool in one step; a bundle that
/// is unreadable, empty, unparsable or holds an expired certificate is
/// refused and the old pool stays. Readers take a snapshot (a value), so a
/// request in flight keeps the pool it started with.
package final class TrustAnchorHolder: Sendable {
    package struct Pool: Sendable {
        let name: String
        /// est-mtls or scep-signed-challenge (trust_anchors.purpose).
        let purpose: String
        let certificates: [Certificate]
        let sha256: String
        let earliestNotAfter: Date
    }

    package enum LoadError: Error, Equatable, CustomStringConvertible {
        case unreadable(String)
        case empty(String)
        case unparsable(String, String)
        case expired(String, String)

        var code: String {
            switch self {
            case .unreadable: "trust_bundle_unreadable"
            case .empty: "trust_bundle_empty"
            case .unparsable: "trust_bundle_unparsable"
            case .expired: "trust_bundle_expired_certificate"
            }
        }

        package var description: String {
            switch self {
            case .unreadable(let path): "\(path) cannot be read"
            case .empty(let path): "\(path) holds no certificate"
            case .unparsable(let path, let detail): "\(path) is not a PEM certificate bundle: \(detail)"
            case .expired(let path, let subject): "\(path) holds an expired certificate (\(subject))"
            }
        }
    }

    private let pools = Mutex<[String: Pool]>([:])

    package init() {}

    func pool(_ name: String) -> Pool? { pools.withLock { $0[name] } }

    /// Every certificate of every EST mTLS bundle: what the TLS handshake accepts before the label is known.
    /// Connector certificates of signed SCEP challenges are not client-certificate roots.
    func mtlsCertificates() -> [Certificate] {
        pools.withLock { $0.values.filter { $0.purpose == "est-mtls" }.flatMap(\.certificates) }
    }

    /// Loads `path` and, only if it is acceptable, makes it the pool of `name`.
    @discardableResult
    package func reload(name: String, purpose: String, path: String, now: Date = Date()) -> Result<Pool, LoadError> {
        let result = Self.load(name: name, purpose: purpose, path: path, now: now)
        if case .success(let pool) = result { pools.withLock { $0[name] = pool } }
        return result
    }

    static func load(name: String, purpose: String, path: String, now: Date) -> Result<Pool, LoadError> {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            return .failure(.unreadable(path))
        }
        let certificates: [Certificate]
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            guard documents.allSatisfy({ $0.discriminator == "CERTIFICATE" }) else {
                return .failure(.unparsable(path, "only CERTIFICATE blocks are allowed"))
            }
            certificates = try documents.map { try Certificate(pemDocument: $0) }
        } catch {
            if !text.contains("-----BEGIN") { return .failure(.empty(path)) }
            return .failure(.unparsable(path, "\(error)"))
        }
        guard !certificates.isEmpty else { return .failure(.empty(path)) }
        if let expired = certificates.first(where: { $0.notValidAfter < now }) {
            return .failure(.expired(path, expired.subject.description))
        }
        let sha = Hex.string(SHA256.hash(data: data))
        return .success(Pool(name: name, purpose: purpose, certificates: certificates, sha256: sha,
                             earliestNotAfter: certificates.map(\.notValidAfter).min() ?? now))
    }
}
