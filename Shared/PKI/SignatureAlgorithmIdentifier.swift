import X509

/// DER AlgorithmIdentifiers of the signature algorithms certctl signs with
/// (RSA carries NULL parameters, ECDSA none), both directions.
public enum SignatureAlgorithmIdentifier {
    static let table: [(Certificate.SignatureAlgorithm, [UInt8])] = [
        (.ecdsaWithSHA256, [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        (.ecdsaWithSHA384, [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]),
        (.sha256WithRSAEncryption, [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00]),
    ]

    public static func der(_ algorithm: Certificate.SignatureAlgorithm) throws(PKIError) -> [UInt8] {
        guard let entry = table.first(where: { $0.0 == algorithm }) else { throw PKIError.unsupportedIssuerKey }
        return entry.1
    }

    public static func algorithm(fromDER bytes: some Collection<UInt8>) -> Certificate.SignatureAlgorithm? {
        table.first { $0.1.elementsEqual(bytes) }?.0
    }
}
