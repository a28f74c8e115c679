/// Durations as the numbers logs, columns and timers want.
extension Duration {
    /// Whole milliseconds, for logs and `duration_ms` columns.
    public var wholeMilliseconds: Int {
        Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }

    /// Seconds with the fraction, for arithmetic with `Date` and `TimeInterval`.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
