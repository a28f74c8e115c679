import Foundation
import Synchronization

/// A budget of failed SCEP challenges per minute, per source and per endpoint
/// (CERTCTL_SCEP_CHALLENGE_FAILURES_PER_SOURCE_MIN, …_PER_ENDPOINT_MIN; 0
/// disables either), so a challenge cannot be guessed at request speed. Over
/// the budget a request is refused before its challenge is looked at. Each
/// replica counts its own requests. Memory is bounded like the OCSP limiter:
/// one table per minute, at most `maxSources` sources in it (beyond that,
/// failures count against the endpoint only).
package final class ChallengeThrottle: Sendable {
    private struct Table {
        var minute = 0
        var bySource: [String: Int] = [:]
        var byEndpoint: [String: Int] = [:]
    }

    private let table = Mutex(Table())
    let perSource: Int
    let perEndpoint: Int
    let maxSources: Int

    package init(perSource: Int, perEndpoint: Int, maxSources: Int = 100_000) {
        self.perSource = perSource
        self.perEndpoint = perEndpoint
        self.maxSources = maxSources
    }

    /// Whether `source` (or everyone, on `endpoint`) has used this minute's failures.
    package func isThrottled(endpoint: String, source: String, now: Date = Date()) -> Bool {
        let minute = Int(now.timeIntervalSince1970) / 60
        return table.withLock { table in
            Self.roll(&table, to: minute)
            if perEndpoint > 0, table.byEndpoint[endpoint, default: 0] >= perEndpoint { return true }
            return perSource > 0 && table.bySource[Self.key(endpoint, source), default: 0] >= perSource
        }
    }

    package func recordFailure(endpoint: String, source: String, now: Date = Date()) {
        let minute = Int(now.timeIntervalSince1970) / 60
        table.withLock { table in
            Self.roll(&table, to: minute)
            table.byEndpoint[endpoint, default: 0] += 1
            let key = Self.key(endpoint, source)
            if table.bySource[key] != nil || table.bySource.count < maxSources { table.bySource[key, default: 0] += 1 }
        }
    }

    private static func roll(_ table: inout Table, to minute: Int) {
        if table.minute != minute { table = Table(minute: minute) }
    }

    private static func key(_ endpoint: String, _ source: String) -> String { endpoint + "\u{0}" + source }
}
