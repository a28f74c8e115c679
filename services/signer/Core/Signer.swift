import CertctlPKI
import X509

/// The seam where a CA key backend plugs in: sign these bytes with this
/// issuer generation's key. Files today; a PKCS#11 backend implements the
/// same protocol without touching callers.
protocol Signer: Sendable {
    func sign(_ bytes: [UInt8], issuerID: String, generation: Int) async throws -> [UInt8]
}

/// Keys loaded from files (`CAKeyLoader`), by issuer and generation.
struct FileKeySigner: Signer {
    let keyring: IssuerKeyring

    func sign(_ bytes: [UInt8], issuerID: String, generation: Int) async throws -> [UInt8] {
        guard let ca = keyring.key(issuerID, generation: generation) else { throw SignerKeyError.noKey(issuerID, generation) }
        let signature = try ca.privateKey.sign(bytes: bytes, signatureAlgorithm: ca.algorithm.signatureAlgorithm)
        return signature.rawRepresentation
    }
}

enum SignerKeyError: Error, CustomStringConvertible {
    case noKey(String, Int)
    var description: String {
        switch self {
        case .noKey(let issuer, let generation): return "no key loaded for issuer \(issuer) generation \(generation)"
        }
    }
}
