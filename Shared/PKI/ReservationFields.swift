import Crypto
import SwiftASN1
import X509

/// The forms in which a reservation records the request a leaf must match,
/// computed the same way by the issuance core (from the CSR) and the signer
/// (from the TBS).
public enum ReservationFields {
    /// SHA-256 of the DER SubjectPublicKeyInfo.
    public static func spkiSHA256(_ key: Certificate.PublicKey) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(key)
        return Array(SHA256.hash(data: serializer.serializedBytes))
    }

    /// The Name's DER.
    public static func subjectDER(_ name: DistinguishedName) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(name)
        return serializer.serializedBytes
    }
}
