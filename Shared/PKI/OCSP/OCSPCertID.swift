import Crypto
import Foundation
import SwiftASN1

/// The CertID hash algorithms certctl answers for (RFC 6960 §4.1.1; RFC 5019
/// clients use SHA-1, newer ones SHA-256).
public enum OCSPHashAlgorithm: String, Sendable, CaseIterable, Hashable {
    case sha1
    case sha256
    case sha384
    case sha512

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .sha1: return [1, 3, 14, 3, 2, 26]
        case .sha256: return [2, 16, 840, 1, 101, 3, 4, 2, 1]
        case .sha384: return [2, 16, 840, 1, 101, 3, 4, 2, 2]
        case .sha512: return [2, 16, 840, 1, 101, 3, 4, 2, 3]
        }
    }

    public var digestLength: Int {
        switch self {
        case .sha1: return 20
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }

    public init?(oid: ASN1ObjectIdentifier) {
        guard let match = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
        self = match
    }

    public func hash(_ bytes: some DataProtocol) -> [UInt8] {
        switch self {
        case .sha1: return Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: return Array(SHA256.hash(data: bytes))
        case .sha384: return Array(SHA384.hash(data: bytes))
        case .sha512: return Array(SHA512.hash(data: bytes))
        }
    }
}

/// ```
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
/// The AlgorithmIdentifier is written with NULL parameters (as OpenSSL does)
/// and accepted with or without them.
public struct OCSPCertID: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var hashAlgorithm: OCSPHashAlgorithm
    public var issuerNameHash: [UInt8]
    public var issuerKeyHash: [UInt8]
    /// The serial's magnitude octets (swift-asn1's unsigned integer form:
    /// no leading zero octet).
    public var serialNumber: [UInt8]

    public init(hashAlgorithm: OCSPHashAlgorithm, issuerNameHash: [UInt8], issuerKeyHash: [UInt8], serialNumber: [UInt8]) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
    }

    /// certctl's canonical serial hex; nil for a zero, negative or over-long
    /// serial (which certctl never issues: such a CertID is answered `unknown`).
    /// (SerialNumber.canonicalHex's result, written straight into one String: this is on every request.)
    public var serialHex: String? {
        let significant = serialNumber.drop { $0 == 0 }
        guard let first = significant.first, significant.count <= 20 else { return nil }
        let skipHigh = first < 0x10  // no leading zero digit
        return String(unsafeUninitializedCapacity: significant.count * 2) { buffer in
            var count = 0
            for byte in significant {
                if count > 0 || !skipHigh {
                    buffer[count] = Self.hexDigit(byte >> 4)
                    count += 1
                }
                buffer[count] = Self.hexDigit(byte & 0x0f)
                count += 1
            }
            return count
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    public init(derEncoded node: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(node, identifier: identifier) { nodes in
            guard let algorithmNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "CertID has no hashAlgorithm")
            }
            let algorithm = try DER.sequence(algorithmNode, identifier: .sequence) { fields in
                let oid = try ASN1ObjectIdentifier(derEncoded: &fields)
                if let parameters = fields.next() {
                    _ = try ASN1Null(derEncoded: parameters)
                }
                guard let algorithm = OCSPHashAlgorithm(oid: oid) else {
                    throw OCSPRequestError.unsupportedHashAlgorithm("\(oid)")
                }
                return algorithm
            }
            let nameHash = try ASN1OctetString(derEncoded: &nodes)
            let keyHash = try ASN1OctetString(derEncoded: &nodes)
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            guard nameHash.bytes.count == algorithm.digestLength, keyHash.bytes.count == algorithm.digestLength else {
                throw OCSPRequestError.hashLength(algorithm.rawValue)
            }
            return OCSPCertID(hashAlgorithm: algorithm, issuerNameHash: Array(nameHash.bytes),
                              issuerKeyHash: Array(keyHash.bytes), serialNumber: Array(serial))
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { algorithm in
                try algorithm.serialize(hashAlgorithm.oid)
                try algorithm.serialize(ASN1Null())
            }
            try coder.serialize(ASN1OctetString(contentBytes: issuerNameHash[...]))
            try coder.serialize(ASN1OctetString(contentBytes: issuerKeyHash[...]))
            try coder.serialize(serialNumber[...])
        }
    }
}
