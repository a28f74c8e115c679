import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import Logging
import Synchronization
import X509

/// Records client certificates refused during the EST TLS handshake (no
/// trusted chain) as audit events with code est_client_certificate_untrusted.
/// The write happens off the handshake, and one certificate is audited at most
/// once a minute, so a client retrying in a loop cannot flood the audit log.
final class TLSRefusalAuditor: Sendable {
    static let code = "est_client_certificate_untrusted"
    static let quietPeriod: Duration = .seconds(60)

    let audit: AuditLog
    let metrics: EnrollMetrics
    let logger: Logger
    private let recent = Mutex<[String: ContinuousClock.Instant]>([:])

    init(audit: AuditLog, metrics: EnrollMetrics, logger: Logger) {
        self.audit = audit
        self.metrics = metrics
        self.logger = logger
    }

    func refuse(der: [UInt8], leaf: Certificate?) {
        let fingerprint = Hex.string(SHA256.hash(data: der))
        metrics.count("est", "tls_handshake", Self.code)
        logger.notice("EST client certificate refused in the TLS handshake: no trusted chain", metadata: [
            "subject": "\(leaf.map { "\($0.subject)" } ?? "unparsable")", "issuer": "\(leaf.map { "\($0.issuer)" } ?? "-")",
            "sha256": "\(fingerprint)", "code": "\(Self.code)",
        ])
        let now = ContinuousClock.now
        let fresh = recent.withLock { seen -> Bool in
            if let last = seen[fingerprint], last.duration(to: now) < Self.quietPeriod { return false }
            if seen.count >= 10_000 { seen = seen.filter { $0.value.duration(to: now) < Self.quietPeriod } }
            seen[fingerprint] = now
            return true
        }
        guard fresh else { return }
        var details = ["sha256": fingerprint]
        if let leaf {
            details["subject"] = "\(leaf.subject)"
            details["issuer"] = "\(leaf.issuer)"
            details["serial"] = "\(leaf.serialNumber)"
        }
        let record = AuditRecord(service: "enroll", actor: "est:tls", action: "est.tls_handshake", outcome: .denied,
                                 targetType: "est_client_certificate", targetID: fingerprint, errorCode: Self.code, details: details)
        let audit = self.audit, logger = self.logger
        Task {
            do { try await audit.record(record) } catch {
                logger.error("could not audit a refused client certificate", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
        }
    }
}
