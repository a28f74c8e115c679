import Foundation

/// This process's memory as Linux reports it in /proc/self/status, for logs
/// that explain where a large job's memory goes (nil elsewhere).
public enum ProcessMemory {
    /// Resident set now (VmRSS) and its peak so far (VmHWM), in MiB.
    public static func residentMiB() -> (current: Int, peak: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 / 1024 }
        }
        guard let current = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (current, peak)
    }

    /// "current/peak" MiB for a log field.
    public static var text: String { residentMiB().map { "\($0.current)/\($0.peak)" } ?? "-" }
}
