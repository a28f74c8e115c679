import CertctlConfig
import Foundation
import SwiftASN1
import X509

/// The service-identity CA (who may call the signer) must not be the product
/// CA (what the signer signs with): otherwise every certificate the product CA
/// issues, to any device, would be a valid RPC identity.
package enum ServiceIdentityCA {
    package static func checkSeparate(from ca: LoadedCA, identityCAPath: String) throws(ConfigError) {
        let pem: String
        do {
            pem = try String(contentsOfFile: identityCAPath, encoding: .utf8)
        } catch {
            throw ConfigError(variable: Catalog.rpcTLSCA.name, value: identityCAPath, expected: "a readable PEM file (\(error))")
        }
        let identityCAs: [Certificate]
        do {
            identityCAs = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            throw ConfigError(variable: Catalog.rpcTLSCA.name, value: identityCAPath, expected: "PEM certificates (\(error))")
        }
        for identityCA in identityCAs where identityCA == ca.certificate || identityCA.publicKey == ca.certificate.publicKey {
            throw ConfigError(
                variable: Catalog.rpcTLSCA.name, value: identityCAPath,
                expected: "a service-identity CA separate from the product CA \(ca.certificatePath) (this file holds the product CA's key)")
        }
    }
}
