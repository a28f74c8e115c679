import CertctlStore
import Foundation
import Testing

@Suite("withTimeout")
struct TimeoutTests {
    /// Sleeps `seconds` without noticing cancellation, as a query waiting for a pool connection did.
    static func uncooperative(_ seconds: Double) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
    }

    @Test("an operation that ignores cancellation still times out at the limit, not when it ends")
    func uncooperativeOperation() async throws {
        let started = ContinuousClock.now
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.milliseconds(200)) { await Self.uncooperative(30); return 1 }
        }
        // (generous: under a parallel test run the timer waited seconds for a thread)
        #expect(started.duration(to: .now) < .seconds(20), "returned before the 30 s operation ended")
    }

    @Test("a result or an error within the limit is passed through")
    func passesThrough() async throws {
        #expect(try await withTimeout(.seconds(5)) { 42 } == 42)
        struct Failure: Error {}
        await #expect(throws: Failure.self) { try await withTimeout(.seconds(5)) { throw Failure() } }
    }

    @Test("cancelling the caller ends the wait with CancellationError")
    func callerCancelled() async throws {
        let task = Task { try await withTimeout(.seconds(60)) { await Self.uncooperative(30); return 1 } }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let started = ContinuousClock.now
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(started.duration(to: .now) < .seconds(20), "returned before the 30 s operation ended")
    }
}
