import CertctlConfig
import FuzzSupport

/// GoDuration.parse, the parser of every duration variable (Catalog.swift),
/// and the formatting and units code fed by it. A parsed duration formats to
/// text that parses back to the same whole milliseconds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDuration(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = String(decoding: fuzzInput(start, count), as: UTF8.self)
    guard let duration = GoDuration.parse(text) else { return 0 }
    fuzzCheck(duration >= .zero, "negative duration from \(text)")
    let formatted = GoDuration.format(duration)
    guard let again = GoDuration.parse(formatted) else {
        fuzzCheck(false, "format(\(duration)) = \(formatted) does not parse")
        return 0
    }
    fuzzCheck(again.wholeMilliseconds == duration.wholeMilliseconds, "\(text) → \(formatted) → \(again)")
    _ = duration.seconds
    return 0
}
