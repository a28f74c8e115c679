/// Parses Go-style durations (`90s`, `15m`, `1h`, `1h30m`, `1.5h`, `250ms`),
/// the syntax operators already know from other infrastructure tools.
public enum GoDuration {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000),
        ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// Returns `nil` for anything that is not a well-formed, non-negative duration.
    /// Whole numbers are counted in integer nanoseconds and only fractions go through
    /// floating point, so what `format` prints parses back exactly ("8748786632ms" was
    /// one nanosecond short when every term went through Double: found by scripts/fuzz).
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return .zero }
        var whole: Int64 = 0
        var fraction: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            // Double(…) accepts only ASCII digits with at most one point, so the split below is safe.
            guard !number.isEmpty, Double(number) != nil else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isNumber || $0 == ".") }
            guard let unit = units.first(where: { $0.suffix == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            let integer = parts[0].isEmpty ? 0 : Int64(parts[0])
            guard let integer else { return nil }  // more digits than an Int64 holds
            let (scaled, overflow) = integer.multipliedReportingOverflow(by: unit.nanoseconds)
            let (sum, overflowSum) = whole.addingReportingOverflow(scaled)
            guard !overflow, !overflowSum, sum < maximumNanoseconds else { return nil }
            whole = sum
            if parts.count == 2, !parts[1].isEmpty, let digits = Double("0." + parts[1]) {
                fraction += digits * Double(unit.nanoseconds)
            }
        }
        let total = Double(whole) + fraction.rounded()
        guard total.isFinite, total < Double(maximumNanoseconds) else { return nil }
        return .nanoseconds(whole + Int64(fraction.rounded()))
    }

    /// Durations from 1e18 ns (about 31.7 years) up are refused.
    static let maximumNanoseconds: Int64 = 1_000_000_000_000_000_000

    /// Formats a duration the way Go prints it (`1h0m0s` style is noisy; we
    /// print the largest exact unit: `1h`, `90s`, `250ms`).
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 {
            if seconds % 3600 == 0, seconds != 0 { return "\(seconds / 3600)h" }
            if seconds % 60 == 0, seconds != 0 { return "\(seconds / 60)m" }
            return "\(seconds)s"
        }
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(milliseconds)ms"
    }
}
