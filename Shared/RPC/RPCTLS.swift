import CertctlConfig
import GRPCNIOTransportHTTP2
import GRPCCore

/// Files of a service's internal-RPC identity: its certificate and key, and
/// the service-identity CA that every peer must chain to.
public struct RPCTLSFiles: Sendable {
    public var certificatePath: String
    public var keyPath: String
    public var caPath: String

    public init(certificatePath: String, keyPath: String, caPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
    }

    public init(_ paths: RPCIdentityPaths) {
        self.init(certificatePath: paths.certificatePath, keyPath: paths.keyPath, caPath: paths.caPath)
    }

    /// Server side: present our certificate, require a client certificate
    /// chaining to the service-identity CA (no hostname check: clients are
    /// identified by their certificate, then authorised per method).
    public var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(
            certificateChain: [.file(path: certificatePath, format: .pem)],
            privateKey: .file(path: keyPath, format: .pem)
        ) { config in
            config.trustRoots = .certificates([.file(path: caPath, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Client side: present our certificate; verify the server fully against
    /// the service-identity CA (its certificate must name the address we dial).
    public var clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(
            certificateChain: [.file(path: certificatePath, format: .pem)],
            privateKey: .file(path: keyPath, format: .pem)
        ) { config in
            config.trustRoots = .certificates([.file(path: caPath, format: .pem)])
            config.serverCertificateVerification = .fullVerification
        }
    }
}
