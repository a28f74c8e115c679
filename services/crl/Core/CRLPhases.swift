import CertctlObservability
import Logging

/// Times of a CRL generation's phases for the `CRL phases` log line, and —
/// only when `memory` is on (log level debug, as `scripts/bench crl` runs it)
/// — the resident/peak MiB after each phase, which costs a /proc read each.
struct CRLPhases {
    let memory: Bool
    private var last = ContinuousClock.now
    private var fields: [(String, String)] = []

    init(memory: Bool) {
        self.memory = memory
        if memory { fields.append(("rss_mib_start", ProcessMemory.text)) }
    }

    mutating func mark(_ phase: String) {
        let now = ContinuousClock.now
        fields.append(("\(phase)_ms", "\((now - last).wholeMilliseconds)"))
        if memory { fields.append(("rss_mib_\(phase)", ProcessMemory.text)) }
        last = now
    }

    func metadata(issuerID: String, revoked: Int, bytes: Int) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["issuer_id": "\(issuerID)", "revoked": "\(revoked)", "bytes": "\(bytes)"]
        for (key, value) in fields { metadata[key] = "\(value)" }
        return metadata
    }
}
