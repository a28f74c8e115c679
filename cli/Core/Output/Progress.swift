import Foundation

/// Progress of long work on stderr: a redrawn bar when stderr is a terminal, otherwise a plain line
/// every 10 % or 5 seconds (so logs of scripted runs stay readable). Stdout is left to results.
final class Progress {
    private let label: String
    private var total: Int
    private var done = 0
    private let terminal: Bool
    private var lastLine = Date.distantPast
    private var lastPercent = -1
    private let started = Date()
    private let enabled: Bool

    init(_ label: String, total: Int, enabled: Bool = true) {
        self.label = label
        self.total = total
        self.enabled = enabled
        terminal = Console.stderrIsTerminal
    }

    func setTotal(_ total: Int) { self.total = max(total, done) }

    func advance(by count: Int = 1, note: String = "") {
        done += count
        draw(note: note)
    }

    func finish(_ note: String = "") {
        guard enabled else { return }
        if terminal {
            draw(note: note, force: true)
            FileHandle.standardError.write(Data("\n".utf8))
        } else {
            Console.err("\(label): \(done)/\(total) done in \(String(format: "%.1f", Date().timeIntervalSince(started))) s \(note)")
        }
    }

    private func draw(note: String, force: Bool = false) {
        guard enabled else { return }
        let percent = total > 0 ? min(100, done * 100 / total) : 100
        if terminal {
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)% \(done)/\(total) \(note)\u{1b}[K".utf8))
        } else if percent < 100, force || percent / 10 > lastPercent / 10 || Date().timeIntervalSince(lastLine) >= 5 {
            // (100 % is left to finish's summary line)
            lastPercent = percent
            lastLine = Date()
            Console.err("\(label): \(done)/\(total) (\(percent)%) \(note)")
        }
    }
}
