import X509

/// The one text form of a subjectAltName that certctl stores, compares and
/// lists: "DNS:host", "IP:10.0.0.1", "email:a@b", "URI:uri".
public enum GeneralNameText {
    public static func describe(_ name: GeneralName) -> String {
        switch name {
        case .dnsName(let dns): return "DNS:\(dns)"
        case .ipAddress(let bytes): return "IP:\(IPAddressText.format(Array(bytes.bytes)) ?? "?")"
        case .rfc822Name(let email): return "email:\(email)"
        case .uniformResourceIdentifier(let uri): return "URI:\(uri)"
        default: return "\(name)"
        }
    }
}

extension CertificateSigningRequest {
    /// The requested subjectAltNames in `GeneralNameText` form.
    public var subjectAlternativeNameTexts: Set<String> {
        Set((try? attributes.extensionRequest?.extensions.subjectAlternativeNames)?.map(GeneralNameText.describe) ?? [])
    }
}

extension Certificate {
    /// The certificate's subjectAltNames in `GeneralNameText` form.
    public var subjectAlternativeNameTexts: Set<String> {
        Set((try? extensions.subjectAlternativeNames)?.map(GeneralNameText.describe) ?? [])
    }
}
