import Foundation
import X509

/// What a certificate issued under a profile may contain. The admin API and
/// enrollment check requests against it; the signer checks the TBS it is
/// asked to sign against the same rules.
public struct CertificateProfile: Sendable, Equatable, Codable {
    public enum SANType: String, Sendable, Codable, CaseIterable { case dns, ip, email, uri }

    /// Extended key usages a profile may grant. Not OCSPSigning: only a delegated responder
    /// certificate (which the signer makes for certctl-ocsp) may answer OCSP for the CA.
    public enum Usage: String, Sendable, Codable, CaseIterable {
        case serverAuth, clientAuth, codeSigning, emailProtection, timeStamping

        public var extendedKeyUsage: ExtendedKeyUsage.Usage {
            switch self {
            case .serverAuth: return .serverAuth
            case .clientAuth: return .clientAuth
            case .codeSigning: return .codeSigning
            case .emailProtection: return .emailProtection
            case .timeStamping: return .timeStamping
            }
        }

        public init?(_ usage: ExtendedKeyUsage.Usage) {
            guard let match = Self.allCases.first(where: { $0.extendedKeyUsage == usage }) else { return nil }
            self = match
        }
    }

    public var id: String
    public var description: String
    public var allowedKeyAlgorithms: [KeyAlgorithm]
    public var maxValidityDays: Int
    public var extendedKeyUsages: [Usage]
    public var allowedSANTypes: [SANType]
    /// Glob patterns (`*` matches one DNS label or any text elsewhere); empty: any value.
    public var sanPatterns: [String]
    public var allowCA: Bool

    public init(
        id: String, description: String, allowedKeyAlgorithms: [KeyAlgorithm], maxValidityDays: Int,
        extendedKeyUsages: [Usage], allowedSANTypes: [SANType], sanPatterns: [String], allowCA: Bool
    ) {
        self.id = id
        self.description = description
        self.allowedKeyAlgorithms = allowedKeyAlgorithms
        self.maxValidityDays = maxValidityDays
        self.extendedKeyUsages = extendedKeyUsages
        self.allowedSANTypes = allowedSANTypes
        self.sanPatterns = sanPatterns
        self.allowCA = allowCA
    }

    /// A profile from its stored text values; nil if one is unknown to this build.
    public init?(
        id: String, description: String, allowedKeyAlgorithmNames: [String], maxValidityDays: Int,
        extendedKeyUsageNames: [String], allowedSANTypeNames: [String], sanPatterns: [String], allowCA: Bool
    ) {
        let keys = allowedKeyAlgorithmNames.compactMap(KeyAlgorithm.init(rawValue:))
        let usages = extendedKeyUsageNames.compactMap(Usage.init(rawValue:))
        let sanTypes = allowedSANTypeNames.compactMap(SANType.init(rawValue:))
        guard keys.count == allowedKeyAlgorithmNames.count, usages.count == extendedKeyUsageNames.count,
              sanTypes.count == allowedSANTypeNames.count else { return nil }
        self.init(id: id, description: description, allowedKeyAlgorithms: keys, maxValidityDays: maxValidityDays,
                  extendedKeyUsages: usages, allowedSANTypes: sanTypes, sanPatterns: sanPatterns, allowCA: allowCA)
    }

    /// Checks a public key; returns its algorithm.
    public func checkKey(_ key: Certificate.PublicKey) throws(ProfileViolation) -> KeyAlgorithm {
        guard let algorithm = KeyAlgorithm(key) else {
            throw .keyNotAllowed("\(KeyAlgorithm.describeUnsupported(key)) is not supported")
        }
        guard allowedKeyAlgorithms.contains(algorithm) else {
            throw .keyNotAllowed("\(algorithm.rawValue) is not allowed by profile \(id) (allowed: \(allowedKeyAlgorithms.map(\.rawValue).joined(separator: ", ")))")
        }
        return algorithm
    }

    /// Checks each subject alternative name's type and value.
    public func checkSANs(_ names: [GeneralName]) throws(ProfileViolation) {
        for name in names {
            let (type, value): (SANType?, String)
            switch name {
            case .dnsName(let dns): (type, value) = (.dns, dns.lowercased())
            case .ipAddress(let bytes): (type, value) = (.ip, IPAddressText.format(Array(bytes.bytes)) ?? "?")
            case .rfc822Name(let email): (type, value) = (.email, email.lowercased())
            case .uniformResourceIdentifier(let uri): (type, value) = (.uri, uri)
            default: (type, value) = (nil, "\(name)")
            }
            guard let type, allowedSANTypes.contains(type) else {
                throw .sanNotAllowed("SAN \(value) is of a type profile \(id) does not allow (allowed: \(allowedSANTypes.map(\.rawValue).joined(separator: ", ")))")
            }
            if type == .dns, !Self.isValidDNSName(value) {
                throw .sanNotAllowed("SAN DNS:\(value) is not a valid DNS name")
            }
            guard sanPatterns.isEmpty || sanPatterns.contains(where: { Self.matches(pattern: $0.lowercased(), value: value, dns: type == .dns) }) else {
                throw .sanNotAllowed("SAN \(value) matches none of profile \(id)'s patterns")
            }
        }
    }

    public func checkValidity(notBefore: Date, notAfter: Date) throws(ProfileViolation) {
        // One day of slack covers the backdated notBefore and rounding.
        guard notAfter > notBefore,
              notAfter.timeIntervalSince(notBefore) <= Double(maxValidityDays + 1) * 86_400
        else {
            throw .validityTooLong("validity exceeds profile \(id)'s maximum of \(maxValidityDays) days")
        }
    }

    public func checkExtendedKeyUsages(_ usages: [ExtendedKeyUsage.Usage]) throws(ProfileViolation) {
        for usage in usages where !extendedKeyUsages.contains(where: { $0.extendedKeyUsage == usage }) {
            throw .usageNotAllowed("extended key usage \(usage) is not allowed by profile \(id)")
        }
    }

    static func isValidDNSName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.count <= 253, labels.count >= 1 else { return false }
        for (index, label) in labels.enumerated() {
            if index == 0, label == "*" { continue }
            guard (1...63).contains(label.count), !label.hasPrefix("-"), !label.hasSuffix("-"),
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { return false }
        }
        return true
    }

    /// `*` matches exactly one DNS label in DNS names, any run of characters otherwise.
    static func matches(pattern: String, value: String, dns: Bool) -> Bool {
        if dns {
            let patternLabels = pattern.split(separator: ".", omittingEmptySubsequences: false)
            let valueLabels = value.split(separator: ".", omittingEmptySubsequences: false)
            guard patternLabels.count == valueLabels.count else { return false }
            return zip(patternLabels, valueLabels).allSatisfy { $0 == "*" || $0 == $1 }
        }
        return glob(Array(pattern), Array(value))
    }

    private static func glob(_ pattern: [Character], _ value: [Character]) -> Bool {
        guard let first = pattern.first else { return value.isEmpty }
        if first == "*" {
            let rest = Array(pattern.dropFirst())
            return (0...value.count).contains { glob(rest, Array(value.dropFirst($0))) }
        }
        guard let head = value.first, head == first else { return false }
        return glob(Array(pattern.dropFirst()), Array(value.dropFirst()))
    }
}

/// Why a request or a TBS breaks its profile; `code` is the API error code.
public enum ProfileViolation: Error, Equatable, CustomStringConvertible {
    case keyNotAllowed(String)
    case sanNotAllowed(String)
    case validityTooLong(String)
    case usageNotAllowed(String)
    case caNotAllowed(String)

    public var code: String {
        switch self {
        case .keyNotAllowed: return "key_not_allowed"
        case .sanNotAllowed: return "san_not_allowed"
        case .validityTooLong: return "validity_too_long"
        case .usageNotAllowed: return "usage_not_allowed"
        case .caNotAllowed: return "ca_not_allowed"
        }
    }

    public var description: String {
        switch self {
        case .keyNotAllowed(let text), .sanNotAllowed(let text), .validityTooLong(let text),
             .usageNotAllowed(let text), .caNotAllowed(let text):
            return text
        }
    }
}

/// IPv4/IPv6 address bytes ⇄ text.
public enum IPAddressText {
    /// Dotted IPv4 or any RFC 4291 IPv6 text form (inet_pton).
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = [UInt8](repeating: 0, count: 4), v6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &v4) == 1 { return v4 }
        if inet_pton(AF_INET6, text, &v6) == 1 { return v6 }
        return nil
    }

    public static func format(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 16:
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        default: return nil
        }
    }
}
