import X509

/// Who is calling over internal RPC, read from the caller's mTLS certificate.
///
/// Service certificates come from the internal service-identity CA (separate
/// from the product CA). A service's identity is the URI SAN
/// `urn:certctl:service:<name>` (or, failing that, the subject CN
/// `certctl-<name>`).
public enum ServiceIdentity: Sendable, Equatable, CustomStringConvertible {
    case service(String)
    case unknown(String)

    public static let uriPrefix = "urn:certctl:service:"

    public init(certificate: Certificate?) {
        guard let certificate else { self = .unknown("no client certificate"); return }
        if let sans = try? certificate.extensions.subjectAlternativeNames {
            for name in sans {
                if case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(Self.uriPrefix) {
                    self = .service(String(uri.dropFirst(Self.uriPrefix.count)))
                    return
                }
            }
        }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                let cn = String(describing: attribute.value)
                if cn.hasPrefix("certctl-") {
                    self = .service(String(cn.dropFirst("certctl-".count)))
                    return
                }
            }
        }
        self = .unknown(certificate.subject.description)
    }

    public var name: String? {
        if case .service(let name) = self { return name }
        return nil
    }

    public var description: String {
        switch self {
        case .service(let name): return "certctl-\(name)"
        case .unknown(let subject): return "unknown caller (\(subject))"
        }
    }
}
