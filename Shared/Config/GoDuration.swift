/// Parses Go-style durations (`90s`, `15m`, `1h`, `1h30m`, `1.5h`, `250ms`),
/// the syntax operators already know from other infrastructure tools.
public enum GoDuration {
    private static let units: [(suffix: String, seconds: Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3),
        ("s", 1), ("m", 60), ("h", 3600),
    ]

    /// Returns `nil` for anything that is not a well-formed, non-negative duration.
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return .zero }
        var totalNanoseconds: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isNumber || $0 == ".") }
            guard let unit = units.first(where: { $0.suffix == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            totalNanoseconds += value * unit.seconds * 1e9
        }
        guard totalNanoseconds.isFinite, totalNanoseconds < 1e18 else { return nil }
        return .nanoseconds(Int64(totalNanoseconds.rounded()))
    }

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
