import SwiftASN1

/// Names the public key of a CSR that swift-certificates refuses to parse
/// (it rejects RSA keys under 2048 bits and unknown curves outright), so the
/// caller can answer "key not allowed" instead of "not a CSR". Pure.
///
///     CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
///     CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes [0] }
public enum CSRKeyProbe {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let curves: [ASN1ObjectIdentifier: String] = [
        [1, 3, 132, 0, 35]: "ecdsa-p521", [1, 3, 132, 0, 10]: "ecdsa-secp256k1", [1, 2, 840, 10045, 3, 1, 1]: "ecdsa-p192",
        [1, 3, 132, 0, 33]: "ecdsa-p224",
    ]

    /// e.g. "rsa-1024", "ecdsa-p521"; nil when the bytes are not a CSR at all.
    public static func describeKey(pem: String) -> String? {
        guard let document = try? PEMDocument(pemString: pem), let root = try? DER.parse(document.derBytes),
              case .constructed(let top) = root.content, let info = Array(top).first,
              case .constructed(let infoFields) = info.content
        else { return nil }
        let fields = Array(infoFields)
        guard fields.count >= 3, case .constructed(let spkiFields) = fields[2].content else { return nil }
        let spki = Array(spkiFields)
        guard spki.count == 2, case .constructed(let algorithmFields) = spki[0].content,
              let oidNode = Array(algorithmFields).first, let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode)
        else { return nil }
        if oid == rsaEncryption {
            guard let bits = try? ASN1BitString(derEncoded: spki[1]), let key = try? DER.parse(bits.bytes),
                  case .constructed(let keyFields) = key.content, let modulus = Array(keyFields).first,
                  case .primitive(let modulusBytes) = modulus.content
            else { return "rsa" }
            let significant = modulusBytes.drop { $0 == 0 }
            guard let first = significant.first else { return "rsa" }
            return "rsa-\((significant.count - 1) * 8 + (8 - first.leadingZeroBitCount))"
        }
        if oid == ecPublicKey {
            let parameters = Array(algorithmFields).dropFirst().first
            if let parameters, let curve = try? ASN1ObjectIdentifier(derEncoded: parameters) {
                return curves[curve] ?? "ecdsa-\(curve)"
            }
            return "ecdsa"
        }
        return "\(oid)"
    }
}
