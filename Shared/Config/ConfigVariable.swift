/// The executables that read configuration. Used to document which service
/// consumes which variable.
public enum ServiceName: String, CaseIterable, Sendable {
    case signer, admin, ocsp, crl, enroll

    public var executable: String { "certctl-\(rawValue)" }
}

/// What every variable has in common, independent of its value type; the
/// docs guard compares these against `docs/features.md`.
public struct ConfigVariableInfo: Sendable {
    public let name: String
    /// The default as documented (`nil`: required, or optional with no default).
    public let defaultText: String?
    public let isRequired: Bool
    public let services: [ServiceName]
    public let meaning: String
}

/// One `CERTCTL_*` environment variable: its name, default, meaning and parser.
public struct ConfigVariable<Value: Sendable>: Sendable {
    public let info: ConfigVariableInfo
    /// Human text for "expected …" in error messages.
    public let expected: String
    /// Alternative names accepted when the primary is unset (e.g. `DATABASE_URL`).
    public let fallbackNames: [String]
    let parse: @Sendable (String) -> Value?

    public var name: String { info.name }

    public init(
        _ name: String,
        default defaultText: String? = nil,
        required: Bool = false,
        services: [ServiceName],
        expected: String,
        meaning: String,
        fallbackNames: [String] = [],
        parse: @escaping @Sendable (String) -> Value?
    ) {
        self.info = ConfigVariableInfo(
            name: name, defaultText: defaultText, isRequired: required,
            services: services, meaning: meaning)
        self.expected = expected
        self.fallbackNames = fallbackNames
        self.parse = parse
    }
}
