/// X.509 Time values from Unix seconds (RFC 5280 §4.1.2.5): UTCTime for
/// 1950–2049, GeneralizedTime otherwise, always UTC ("Z") with seconds.
/// Written by hand because a CRL holds one per entry.
public enum DERTime {
    /// Octets of the encoded Time TLV.
    @inlinable
    public static func encodedSize(_ seconds: Int64) -> Int {
        let year = civil(seconds).year
        return (1950...2049).contains(year) ? 15 : 17
    }

    public static func appendTime(_ seconds: Int64, to out: inout [UInt8]) {
        let date = civil(seconds)
        if (1950...2049).contains(date.year) {
            out.append(DERWriter.utcTime)
            out.append(13)
            appendTwoDigits(date.year % 100, to: &out)
        } else {
            appendGeneralizedTimeHeader(to: &out)
            appendTwoDigits(date.year / 100, to: &out)
            appendTwoDigits(date.year % 100, to: &out)
        }
        appendRest(date, to: &out)
    }

    /// GeneralizedTime regardless of year (invalidityDate, RFC 5280 §5.3.2).
    public static func appendGeneralizedTime(_ seconds: Int64, to out: inout [UInt8]) {
        let date = civil(seconds)
        appendGeneralizedTimeHeader(to: &out)
        appendTwoDigits(date.year / 100, to: &out)
        appendTwoDigits(date.year % 100, to: &out)
        appendRest(date, to: &out)
    }

    static func appendGeneralizedTimeHeader(to out: inout [UInt8]) {
        out.append(DERWriter.generalizedTime)
        out.append(15)
    }

    static func appendRest(_ date: (year: Int, month: Int, day: Int, seconds: Int), to out: inout [UInt8]) {
        appendTwoDigits(date.month, to: &out)
        appendTwoDigits(date.day, to: &out)
        appendTwoDigits(date.seconds / 3600, to: &out)
        appendTwoDigits(date.seconds / 60 % 60, to: &out)
        appendTwoDigits(date.seconds % 60, to: &out)
        out.append(0x5a)  // "Z"
    }

    @inline(__always)
    static func appendTwoDigits(_ value: Int, to out: inout [UInt8]) {
        out.append(UInt8(48 + value / 10))
        out.append(UInt8(48 + value % 10))
    }

    /// Proleptic Gregorian date of Unix seconds (Howard Hinnant's civil_from_days).
    @inlinable
    public static func civil(_ seconds: Int64) -> (year: Int, month: Int, day: Int, seconds: Int) {
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day, secondOfDay)
    }
}

extension DERTime {
    /// Unix seconds of a UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime
    /// (YYYYMMDDHHMMSSZ) in DER's restricted form; nil otherwise.
    public static func parse(tag: UInt8, _ text: [UInt8]) -> Int64? {
        let expected = tag == DERWriter.utcTime ? 13 : tag == DERWriter.generalizedTime ? 15 : 0
        guard expected > 0, text.count == expected, text.last == 0x5a,
              text.dropLast().allSatisfy({ (48...57).contains($0) }) else { return nil }
        let digits = text.dropLast().map { Int($0 - 48) }
        func pair(_ i: Int) -> Int { digits[i] * 10 + digits[i + 1] }
        var year: Int
        var i: Int
        if expected == 13 {
            year = pair(0)
            year += year < 50 ? 2000 : 1900
            i = 2
        } else {
            year = pair(0) * 100 + pair(2)
            i = 4
        }
        let month = pair(i), day = pair(i + 2), hour = pair(i + 4), minute = pair(i + 6), second = pair(i + 8)
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468)
    }
}
