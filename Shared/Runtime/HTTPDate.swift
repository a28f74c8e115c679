import CertctlPKI
import Foundation

/// RFC 9110 §5.6.7 HTTP dates (IMF-fixdate, always GMT), for Last-Modified,
/// Expires and If-Modified-Since. Hand-written: formatters are not needed
/// for one fixed format, and this is on the request path.
public enum HTTPDate {
    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let (year, month, day, second) = DERTime.civil(seconds)
        let weekday = weekdays[((days % 7) + 7) % 7]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekday), \(two(day)) \(months[month - 1]) \(year) \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60)) GMT"
    }

    /// Parses IMF-fixdate; nil for anything else (RFC 9110: an invalid date
    /// in If-Modified-Since makes the header ignored).
    public static func parse(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
              let day = Int(parts[1]), let monthIndex = months.firstIndex(of: String(parts[2])), let year = Int(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), clock[0] < 24, clock[1] < 60, clock[2] < 61 else { return nil }
        let days = DERTime.daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + Int64(clock[0] * 3600 + clock[1] * 60 + clock[2])))
    }
}

/// RFC 9110 §13.1.2 If-None-Match: does the header name this strong ETag?
/// (Weak comparison, as the RFC requires for If-None-Match; `*` matches.)
public enum ETagMatch {
    public static func ifNoneMatch(_ header: String, matches etag: String) -> Bool {
        let strip = { (tag: Substring) -> Substring in tag.hasPrefix("W/") ? tag.dropFirst(2) : tag }
        for candidate in header.split(separator: ",") {
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if strip(Substring(tag)) == strip(Substring(etag)) { return true }
        }
        return false
    }
}
