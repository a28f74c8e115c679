import Foundation
import Synchronization
import Testing

/// A certctl executable started by a test, with its output captured in files.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let outputDirectory: URL
    let name: String

    init(_ executable: String, arguments: [String] = [], environment: [String: String]) throws {
        name = URL(fileURLWithPath: executable).lastPathComponent
        outputDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outputDirectory.appendingPathComponent("stdout").path, contents: nil)
        _ = FileManager.default.createFile(atPath: outputDirectory.appendingPathComponent("stderr").path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Only what the test passes (plus PATH): the developer's own CERTCTL_*
        // variables never leak into a test.
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { mine, _ in mine }
        process.standardOutput = try FileHandle(forWritingTo: outputDirectory.appendingPathComponent("stdout"))
        process.standardError = try FileHandle(forWritingTo: outputDirectory.appendingPathComponent("stderr"))
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: outputDirectory)
    }

    var stdout: String { (try? String(contentsOf: outputDirectory.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: outputDirectory.appendingPathComponent("stderr"), encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    /// Waits for exit; returns the status, or nil if still running after `timeout`.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Stops it (SIGTERM, then SIGKILL after 10 s) and returns the exit status.
    @discardableResult
    func stop() async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        signal(SIGTERM)
        if let status = await waitForExit(timeout: .seconds(10)) { return status }
        signal(SIGKILL)
        return await waitForExit(timeout: .seconds(5))
    }

    /// Polls until `condition` holds; on timeout records the child's stderr and throws.
    func eventually(
        _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(name): timed out waiting for \(what); stderr:\n\(stderr.suffix(3000))", sourceLocation: sourceLocation)
        throw TimedOut()
    }

    struct TimedOut: Error {}
}

/// HTTP through the real `curl` client.
enum HTTP {
    struct Reply {
        let status: Int
        let body: String
        let headers: String
    }

    /// `options`: more curl options, e.g. `["--cacert", path]`.
    static func get(_ url: String, options: [String] = []) async throws -> Reply {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-m", "5", "-o", directory.appendingPathComponent("body").path,
                          "-D", directory.appendingPathComponent("headers").path, "-w", "%{http_code}"] + options + [url]
        let pipe = Pipe()
        curl.standardOutput = pipe
        try curl.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        let status = Int(String(decoding: output, as: UTF8.self)) ?? 0
        let body = (try? String(contentsOf: directory.appendingPathComponent("body"), encoding: .utf8)) ?? ""
        let headers = (try? String(contentsOf: directory.appendingPathComponent("headers"), encoding: .utf8)) ?? ""
        return Reply(status: status, body: body, headers: headers)
    }
}

/// A free loopback port below the kernel's ephemeral range (as scripts/lib/common.sh's
/// free_port): a port inside it can be taken by an outgoing connection (a service
/// dialling Postgres) before the server under test binds it. A port is handed out once
/// per test process: tests run in parallel, and one that has not bound its port yet must
/// not find it given to another (a signer once failed with EADDRINUSE in CI).
func freePort() -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    var low = Int(range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "") ?? 32768
    if low <= 21_024 { low = 32768 }
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<low)
        if canBind(port), handedOutPorts.withLock({ $0.insert(port).inserted }) { return port }
    }
    fatalError("no free loopback port below \(low)")
}

private let handedOutPorts = Mutex<Set<Int>>([])

private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    } == 0
}
