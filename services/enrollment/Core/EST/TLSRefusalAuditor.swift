import CertctlConfig
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import Logging
import NIOCore
import X509

/// Client certificates refused during the EST TLS handshake (no trusted chain): counted in
/// `certctl_enroll_refusals_total{protocol="tls"}` and audited in aggregate (RefusalAggregator) with code
/// est_client_certificate_untrusted: one row per source address and minute carrying the count (and the first
/// refused certificate's fingerprint and names as a sample), written when the minute ends by the aggregator's
/// own service, so nothing here outlives the handshake. Keyed by address, not by certificate: a client that
/// presents a new self-signed certificate on every handshake still makes one row per window.
final class TLSRefusalAuditor: Sendable {
    static let code = "est_client_certificate_untrusted"

    let metrics: EnrollMetrics
    let logger: Logger

    init(audit: AuditLog, metrics: EnrollMetrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    func refuse(der: [UInt8], leaf: Certificate?, peer: SocketAddress?) {
        let source = peer?.ipAddress ?? "unknown"
        let fingerprint = Hex.string(SHA256.hash(data: der))
        metrics.count("est", "tls_handshake", Self.code)
        logger.notice("EST client certificate refused in the TLS handshake: no trusted chain", metadata: [
            "subject": "\(leaf.map { "\($0.subject)" } ?? "unparsable")", "issuer": "\(leaf.map { "\($0.issuer)" } ?? "-")",
            "sha256": "\(fingerprint)", "code": "\(Self.code)", "remote": "\(source)",
        ])
        var details = ["sha256": fingerprint]
        if let leaf {
            details["subject"] = "\(leaf.subject)"
            details["issuer"] = "\(leaf.issuer)"
            details["serial"] = "\(leaf.serialNumber)"
        }
        metrics.refusals.record(RefusalAggregator.Kind(
            proto: "tls", actor: "est:tls", action: "est.tls_handshake", code: Self.code,
            targetType: "est_client_certificate"), source: source, details: details)
    }
}
