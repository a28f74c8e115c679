/// A snapshot of the process environment, read through typed variables.
///
/// Every read either yields a valid value or throws a `ConfigError` naming the
/// variable; nothing reads `CERTCTL_*` variables any other way.
public struct Environment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    /// Reads a variable that has a default or is required.
    public func read<Value>(_ variable: ConfigVariable<Value>) throws(ConfigError) -> Value {
        if let value = try readOptional(variable) { return value }
        guard let defaultText = variable.info.defaultText else {
            throw ConfigError(variable: variable.name, value: nil, expected: variable.expected)
        }
        guard let value = variable.parse(defaultText) else {
            preconditionFailure("default of \(variable.name) does not parse: \(defaultText)")
        }
        return value
    }

    /// Reads a variable that may be absent; an empty string counts as absent.
    public func readOptional<Value>(_ variable: ConfigVariable<Value>) throws(ConfigError) -> Value? {
        for name in [variable.name] + variable.fallbackNames {
            guard let raw = values[name], !raw.isEmpty else { continue }
            guard let value = variable.parse(raw) else {
                throw ConfigError(variable: name, value: raw, expected: variable.expected)
            }
            return value
        }
        return nil
    }
}
