import CertctlConfig
import Testing

/// Inputs on which a scripts/fuzz target failed (docs/reliability.md, "Fuzzing"),
/// kept as ordinary tests so the fix stays fixed without a sanitizer build.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// fuzz target duration: every term went through Double, so a large count of
    /// milliseconds parsed one nanosecond short and format → parse drifted by 1 ms.
    @Test("a formatted duration parses back to the same milliseconds")
    func durationRoundTrip() throws {
        #expect(GoDuration.parse("8748786632ms") == .milliseconds(8_748_786_632))
        let found = "2h42h42h42h3s.5h9s.542h42h3s.5h9s.500m3s.42h42h42h3s.5h9s.542h42h3s.5h9s.500m3s.5h4m3s.42h42h42h3s"
            + ".5h9s.542h42h3s.5h9s.500m3s.5h42h912h3s.5h9s.502s.5s.9s.3s.5s.3s.0m3s.5h910m30m3s.5h9s.00m3s.5h42h912m31m3s"
            + ".5h9s.500m3s.5h910m30m3s.5h9s.55h42h912h3s.5h9s.5005m3s"
        let duration = try #require(GoDuration.parse(found))
        let again = try #require(GoDuration.parse(GoDuration.format(duration)))
        #expect(again.wholeMilliseconds == duration.wholeMilliseconds)
        // Whole numbers of every unit are exact; fractions still work.
        #expect(GoDuration.parse("277777h") == .seconds(277_777 * 3600))
        #expect(GoDuration.parse("1.5h") == .seconds(5400))
        #expect(GoDuration.parse(".5s") == .milliseconds(500))
        #expect(GoDuration.parse("1.s") == .seconds(1))
        for bad in [".s", "1.2.3s", "99999999999999999999s", "277778h", "²s"] {
            #expect(GoDuration.parse(bad) == nil, "\(bad) must not parse")
        }
    }
}
