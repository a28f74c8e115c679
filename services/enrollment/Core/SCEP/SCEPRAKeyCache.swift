import CertctlConfig
import CertctlPKI
import CertctlStore
import Foundation
import Synchronization
import X509

/// Loads each SCEP endpoint's RA certificate and key from their files,
/// enforcing key mode 0600, and keeps them until either file changes
/// (mtime/size), so a rotated RA takes effect without a restart.
package final class SCEPRAKeyCache: Sendable {
    struct Entry: Sendable {
        let stamp: String
        let identity: SCEPRAIdentity
    }

    enum LoadError: Error, CustomStringConvertible {
        case insecureKey(String)
        case unreadable(String)

        var code: String {
            switch self {
            case .insecureKey: "scep_ra_key_insecure"
            case .unreadable: "scep_ra_unavailable"
            }
        }

        var description: String {
            switch self {
            case .insecureKey(let text), .unreadable(let text): text
            }
        }
    }

    private let cache = Mutex<[String: Entry]>([:])

    package init() {}

    func identity(for endpoint: SCEPEndpointRecord) throws(LoadError) -> SCEPRAIdentity {
        do {
            try PrivateFile.checkOwnerOnly(endpoint.raKeyPath, variable: "scep profile \(endpoint.name) ra_key_path")
        } catch {
            throw .insecureKey(error.description)
        }
        let stamp = Self.stamp(endpoint.raCertPath) + "|" + Self.stamp(endpoint.raKeyPath)
        let key = endpoint.name
        if let entry = cache.withLock({ $0[key] }), entry.stamp == stamp { return entry.identity }
        do {
            let certPEM = try String(contentsOfFile: endpoint.raCertPath, encoding: .utf8)
            let keyPEM = try String(contentsOfFile: endpoint.raKeyPath, encoding: .utf8)
            let certificate = try Certificate(pemEncoded: certPEM)
            let identity = try SCEPRAIdentity(certificate: certificate, keyPEM: keyPEM)
            cache.withLock { $0[key] = Entry(stamp: stamp, identity: identity) }
            return identity
        } catch {
            throw .unreadable("RA certificate \(endpoint.raCertPath) / key \(endpoint.raKeyPath) of SCEP profile \(endpoint.name) cannot be loaded (an RSA key matching the certificate is required): \(error)")
        }
    }

    private static func stamp(_ path: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "missing" }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(modified)-\(attributes[.size] as? Int ?? 0)"
    }
}
