import CertctlConfig
import CertctlRuntime
import CertctlStore
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import X509

/// Request context that keeps the channel, to read the TLS client certificate.
package struct ESTRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The EST HTTPS listener. Client certificates are optional at the TLS layer
/// (Basic-auth clients have none); a presented one must chain to a trust
/// bundle's *current* pool or to an issuer's CA (re-enrollment), checked in
/// the verification callback on every handshake, so a reloaded bundle takes
/// effect for new connections without a restart.
package enum ESTServer {
    /// `limits`: the handshake, header, body and idle deadlines and connection cap (as every listener's).
    package static func make(listen: ListenAddress, certPath: String, keyPath: String, routes: ESTRoutes,
                             holder: TrustAnchorHolder, issuerRoots: IssuerRoots, limits: ListenerLimits = .defaults,
                             logger: Logger) throws -> any Service {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certPath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        tls.certificateVerification = .optionalVerification
        tls.minimumTLSVersion = .tlsv12
        let refusals = TLSRefusalAuditor(audit: routes.audit, metrics: routes.metrics, logger: logger)
        let router = Router(context: ESTRequestContext.self)
        routes.add(to: router)
        let server = try HardenedHTTPServer.builder(
            listener: "est", limits: limits, tls: TLSChannelConfiguration(tlsConfiguration: tls),
            peerVerification: { certificates, peer in
                await verify(certificates, roots: holder.mtlsCertificates() + (await issuerRoots.current()), refusals: refusals,
                             peer: peer)
            })
        return Application(router: router, server: server,
                           configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "certctl-enroll-est",
                                                           backlog: ListenerLimits.listenBacklog),
                           logger: logger)
    }

    static func verify(_ chain: [NIOSSLCertificate], roots: [Certificate], refusals: TLSRefusalAuditor,
                       peer: SocketAddress?) async -> NIOSSLVerificationResult {
        guard let first = chain.first, let der = try? first.toDERBytes(), let leaf = try? Certificate(derEncoded: der) else {
            refusals.refuse(der: (try? chain.first?.toDERBytes()) ?? [], leaf: nil, peer: peer)
            return .failed
        }
        let intermediates = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        if await validates(leaf, intermediates: intermediates, roots: roots) { return .certificateVerified }
        refusals.refuse(der: der, leaf: leaf, peer: peer)
        return .failed
    }

    static func validates(_ leaf: Certificate, intermediates: [Certificate], roots: [Certificate]) async -> Bool {
        guard !roots.isEmpty else { return false }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        if case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
            return true
        }
        return false
    }
}

/// CA certificates of every issuer, re-read at most every 30 s (they change only with a CA rollover).
package final class IssuerRoots: Sendable {
    let issuers: IssuerStore
    private let cache = Mutex<(loaded: ContinuousClock.Instant, certificates: [Certificate])?>(nil)

    package init(issuers: IssuerStore) { self.issuers = issuers }

    func current() async -> [Certificate] {
        if let cached = cache.withLock({ $0 }), cached.loaded.duration(to: .now) < .seconds(30) { return cached.certificates }
        guard let records = try? await issuers.list() else { return cache.withLock { $0?.certificates ?? [] } }
        let certificates = records.compactMap { try? Certificate(derEncoded: $0.certificateDER) }
        cache.withLock { $0 = (.now, certificates) }
        return certificates
    }
}
