/// A configuration value the process cannot start with.
///
/// Rendered as one line that names the variable, the offending value and what
/// was expected, so an operator can fix it without reading code.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public let variable: String
    /// The raw value, or `nil` when the variable is missing.
    public let value: String?
    public let expected: String

    public init(variable: String, value: String?, expected: String) {
        self.variable = variable
        self.value = value
        self.expected = expected
    }

    public var description: String {
        if let value {
            return "invalid configuration: \(variable)=\"\(value)\" is not valid: expected \(expected)"
        }
        return "invalid configuration: \(variable) is not set: expected \(expected)"
    }

    /// BSD sysexits EX_CONFIG: the conventional exit status for bad configuration.
    public static let exitCode: Int32 = 78
}
