import Foundation
import X509

/// Parses operator-written subject names: OpenSSL style `/O=Example/CN=Root`
/// or RFC 4514 style `CN=Root,O=Example` (most significant RDN first in the
/// slash form, last in the comma form, as each convention has it).
public enum SubjectName {
    public enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let text): return "invalid subject \(text): use /O=Example/CN=Name or CN=Name,O=Example (attributes C, ST, L, O, OU, CN)" }
        }
    }

    public static func parse(_ text: String) throws -> DistinguishedName {
        let slashForm = text.hasPrefix("/")
        let parts = slashForm
            ? text.dropFirst().split(separator: "/").map(String.init)
            : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.reversed()
        guard !parts.isEmpty else { throw ParseError.invalid(text) }
        var rdns: [RelativeDistinguishedName] = []
        for part in parts {
            guard let equals = part.firstIndex(of: "=") else { throw ParseError.invalid(text) }
            let key = part[..<equals].uppercased()
            let value = String(part[part.index(after: equals)...])
            guard !value.isEmpty else { throw ParseError.invalid(text) }
            let attribute: RelativeDistinguishedName.Attribute
            switch key {
            case "C": attribute = try .init(type: .RDNAttributeType.countryName, printableString: value)
            case "ST": attribute = .init(type: .RDNAttributeType.stateOrProvinceName, utf8String: value)
            case "L": attribute = .init(type: .RDNAttributeType.localityName, utf8String: value)
            case "O": attribute = .init(type: .RDNAttributeType.organizationName, utf8String: value)
            case "OU": attribute = .init(type: .RDNAttributeType.organizationalUnitName, utf8String: value)
            case "CN": attribute = .init(type: .RDNAttributeType.commonName, utf8String: value)
            default: throw ParseError.invalid(text)
            }
            rdns.append(RelativeDistinguishedName(attribute))
        }
        return DistinguishedName(rdns)
    }
}
