import CertctlConfig
import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Compares this machine's clock with the database server's and refuses to
/// sign while they disagree by more than `CERTCTL_SIGNER_MAX_CLOCK_SKEW`.
///
/// A signature carries this machine's time (notBefore, thisUpdate,
/// nextUpdate, producedAt), while every other process judges validity, CRL
/// freshness and expiry by its own clock and by rows Postgres stamps with
/// `now()`. A signer whose clock is wrong signs certificates that are not yet
/// valid, or CRLs that are already stale, without anyone noticing, so it
/// stops and says so instead: the `clock_skew` refusal, the
/// `certctl_signer_clock_skew_seconds` gauge, a log line on each change and
/// /readyz not ready. The database's clock is the reference because it is
/// the one clock every certctl process already shares.
package final class ClockSkewGuard: Service, Sendable {
    let database: Database
    let bound: Duration
    let readiness: ReadinessMonitor
    let logger: Logger
    let interval: Duration
    /// The last measured offset (database minus this machine), in seconds.
    private let skew = Mutex<Double?>(nil)
    static let readinessKey = "clock"

    package init(database: Database, bound: Duration, readiness: ReadinessMonitor, logger: Logger, interval: Duration = .seconds(5)) {
        self.database = database
        self.bound = bound
        self.readiness = readiness
        self.logger = logger
        self.interval = interval
    }

    var boundSeconds: Double { Double(bound.components.seconds) + Double(bound.components.attoseconds) / 1e18 }

    /// One comparison: the server's `clock_timestamp()` against the midpoint
    /// of the local times around the round trip (whose half is the error).
    package func measure() async throws {
        let before = Date()
        let rows = try await database.client.query(
            "SELECT extract(epoch FROM clock_timestamp())::float8", logger: logger)
        guard let server = try await rows.collect().first?.decode(Double.self) else { return }
        let after = Date()
        let local = (before.timeIntervalSince1970 + after.timeIntervalSince1970) / 2
        record(server - local)
    }

    package func record(_ offset: Double) {
        let previous = skew.withLock { value in
            defer { value = offset }
            return value
        }
        Gauge(label: "certctl_signer_clock_skew_seconds").record(offset)
        let wasOut = previous.map { abs($0) > boundSeconds } ?? false
        let isOut = abs(offset) > boundSeconds
        if isOut {
            readiness.report(Self.readinessKey, problem: Self.describe(offset, bound: bound))
            if !wasOut || previous == nil {
                logger.error("refusing to sign: clock skew beyond the bound", metadata: [
                    "skew_seconds": "\(Self.rounded(offset))", "bound": "\(GoDuration.format(bound))",
                    "hint": "fix this machine's time synchronisation (NTP) or the database server's",
                ])
            }
        } else {
            readiness.report(Self.readinessKey, problem: nil)
            if wasOut { logger.notice("clock back within the bound: signing again", metadata: ["skew_seconds": "\(Self.rounded(offset))"]) }
        }
    }

    /// Throws the `clock_skew` refusal while the last comparison was out of bounds.
    package func check() throws(SigningRefusal) {
        guard let offset = skew.withLock({ $0 }), abs(offset) > boundSeconds else { return }
        throw .clockSkew(Self.describe(offset, bound: bound))
    }

    static func describe(_ offset: Double, bound: Duration) -> String {
        let direction = offset > 0 ? "behind" : "ahead of"
        return "the signer's clock is \(rounded(abs(offset))) s \(direction) the database server's (CERTCTL_SIGNER_MAX_CLOCK_SKEW \(GoDuration.format(bound)))"
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    package func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            guard !Task.isCancelledOrShuttingDown else { return }
            do {
                try await measure()
            } catch {
                // the database is away: keep the last verdict (nothing is signed without the database anyway)
                logger.debug("clock comparison failed", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            }
        }
    }
}
