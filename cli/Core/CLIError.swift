/// A failure the CLI reports as one line on stderr (`error: code: message`) and an exit status;
/// never a stack trace.
public struct CLIError: Error, CustomStringConvertible, Sendable {
    public let status: ExitStatus
    /// The API's typed error code (or the CLI's own, such as `unreachable`).
    public let code: String
    public let message: String

    public init(_ status: ExitStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func usage(_ message: String) -> CLIError { CLIError(.usage, "usage", message) }
    static func file(_ path: String, _ why: String) -> CLIError { CLIError(.failure, "file", "\(path): \(why)") }

    /// The exit status an HTTP error status maps to.
    static func status(forHTTP code: Int) -> ExitStatus {
        switch code {
        case 401, 403: return .unauthenticated
        case 404: return .notFound
        default: return .failure
        }
    }
}
