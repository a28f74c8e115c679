import CertctlConfig
import Foundation
import Synchronization

/// Per-client-address fixed one-minute windows. `limit` 0 disables it.
package final class RateLimiter: Sendable {
    private struct Window {
        var start: Int
        var count: Int
    }

    private let windows = Mutex<[String: Window]>([:])
    let limit: Int

    package init(limitPerMinute: Int) {
        limit = limitPerMinute
    }

    /// nil when allowed; otherwise the seconds until the window resets.
    package func check(_ client: String, now: Date = Date()) -> Int? {
        guard limit > 0 else { return nil }
        let seconds = Int(now.timeIntervalSince1970)
        let minute = seconds / 60
        return windows.withLock { windows in
            if windows.count > 100_000 {
                windows = windows.filter { $0.value.start == minute }
            }
            var window = windows[client] ?? Window(start: minute, count: 0)
            if window.start != minute { window = Window(start: minute, count: 0) }
            window.count += 1
            windows[client] = window
            return window.count > limit ? max(1, (minute + 1) * 60 - seconds) : nil
        }
    }
}
