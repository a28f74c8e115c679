import X509

/// Who is calling over internal RPC, read from the caller's mTLS certificate.
///
/// Service certificates come from the internal service-identity CA (separate
/// from the product CA). A service's identity is its URI SAN
/// `urn:certctl:service:<name>` and nothing else: a subject CN never counts,
/// and a certificate with two such URIs is nobody.
public enum ServiceIdentity: Sendable, Equatable, CustomStringConvertible {
    case service(String)
    case unknown(String)

    public static let uriPrefix = "urn:certctl:service:"

    public init(certificate: Certificate?) {
        guard let certificate else { self = .unknown("no client certificate"); return }
        guard let sans = try? certificate.extensions.subjectAlternativeNames else {
            self = .unknown(certificate.subject.description)
            return
        }
        let names = sans.compactMap { name -> String? in
            guard case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(Self.uriPrefix) else { return nil }
            return String(uri.dropFirst(Self.uriPrefix.count))
        }
        guard names.count == 1, let name = names.first, !name.isEmpty else {
            self = .unknown(certificate.subject.description)
            return
        }
        self = .service(name)
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
