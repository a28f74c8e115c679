import CertctlPKI
import CertctlStore
import Foundation
import SwiftASN1
import X509

/// What a rotation asks for, checked.
struct RotationPlan: Sendable {
    enum Mode: Sendable { case selfSigned, subCA }

    var issuerID: String
    var displayName: String
    var mode: Mode
    var algorithm: KeyAlgorithm
    var subject: DistinguishedName
    var validity: Duration
    var activateAt: Date?
    var crossCertificate: Bool
}

/// The files and certificates of a new generation, made before its row exists.
struct MadeGeneration: Sendable {
    var facts: IssuerGenerationFacts
    var ca: LoadedCA?
    var csrDER: [UInt8]?
    var crossCertificateDER: [UInt8]?
}

/// Makes a new CA key generation: the key (written mode 0600 into the
/// signer's key directory, never sent anywhere), then a self-signed
/// certificate or a sub-CA CSR, and optionally a cross-certificate of the
/// new key by the generation it succeeds.
struct KeyRotation: Sendable {
    let keyDirectory: String

    static let minimumValidity: Duration = .seconds(3600)

    func make(_ plan: RotationPlan, previous: LoadedCA?, now: Date = Date()) throws -> MadeGeneration {
        try Self.prepareDirectory(keyDirectory)
        let stem = "\(keyDirectory)/\(plan.issuerID)-\(Self.stamp(now))"
        let (key, keyPEM) = try CAKeyFiles.generate(plan.algorithm)
        let keyPath = stem + ".key"
        try CAKeyFiles.writePrivate(keyPEM, to: keyPath)
        switch plan.mode {
        case .selfSigned:
            let certificate = try CAKeyFiles.selfSignedCA(key: key, algorithm: plan.algorithm, subject: plan.subject,
                                                          validity: plan.validity.seconds, now: now)
            let der = try Self.der(certificate)
            let certPath = stem + ".crt"
            try CAKeyFiles.writePublic(PEM.certificate(der), to: certPath)
            let ca = LoadedCA(certificate: certificate, certificateDER: der, privateKey: key, algorithm: plan.algorithm,
                              certificatePath: certPath, keyPath: keyPath)
            var cross: [UInt8]?
            if plan.crossCertificate, let previous {
                cross = try Self.der(try crossCertificate(for: certificate, by: previous, now: now))
                try CAKeyFiles.writePublic(PEM.certificate(cross!), to: stem + "-cross.crt")
            }
            let facts = try IssuerKeyring.facts(certificate: certificate, der: der, algorithm: plan.algorithm,
                                                issuerID: plan.issuerID, displayName: plan.displayName,
                                                certPath: certPath, keyPath: keyPath)
            return MadeGeneration(facts: facts, ca: ca, csrDER: nil, crossCertificateDER: cross)
        case .subCA:
            let csr = try CAKeyFiles.subCACSR(key: key, algorithm: plan.algorithm, subject: plan.subject)
            var serializer = DER.Serializer()
            try serializer.serialize(csr)
            let csrDER = serializer.serializedBytes
            try CAKeyFiles.writePublic(PEM.certificateRequest(csrDER), to: stem + ".csr")
            let facts = try IssuerKeyring.keyFacts(subject: plan.subject, publicKey: key.publicKey, algorithm: plan.algorithm,
                                                   issuerID: plan.issuerID, displayName: plan.displayName,
                                                   certPath: nil, keyPath: keyPath)
            return MadeGeneration(facts: facts, ca: nil, csrDER: csrDER, crossCertificateDER: nil)
        }
    }

    /// The new key certified by the previous generation's key: relying
    /// parties that trust only the old CA can build a path to the new one.
    func crossCertificate(for new: Certificate, by previous: LoadedCA, now: Date) throws -> Certificate {
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true))
        try extensions.append(Certificate.Extension(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true), critical: true))
        try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: new.publicKey), critical: false))
        try extensions.append(Certificate.Extension(AuthorityKeyIdentifier(
            keyIdentifier: try TBSCertificateBuilder.issuerKeyIdentifier(previous.certificate)), critical: false))
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: SerialNumber.random()), publicKey: new.publicKey,
            notValidBefore: max(new.notValidBefore, previous.certificate.notValidBefore),
            notValidAfter: min(new.notValidAfter, previous.certificate.notValidAfter),
            issuer: previous.certificate.subject, subject: new.subject,
            signatureAlgorithm: previous.algorithm.signatureAlgorithm, extensions: extensions,
            issuerPrivateKey: previous.privateKey)
    }

    /// Checks what an external parent returned for a pending sub-CA generation
    /// (whose key it certifies, checked by the caller): a CA certificate,
    /// valid now, with keyCertSign and cRLSign; the chain (if given) links it
    /// upwards by signature.
    static func checkParentCertificate(_ certificate: Certificate, chain: [Certificate], now: Date = Date()) throws(RotationRefusal) {
        guard case .isCertificateAuthority = (try? certificate.extensions.basicConstraints) ?? .notCertificateAuthority else {
            throw .notCA("the certificate is not a CA certificate (basicConstraints CA:TRUE)")
        }
        if let usage = try? certificate.extensions.keyUsage, !usage.keyCertSign || !usage.cRLSign {
            throw .notCA("the certificate's keyUsage lacks keyCertSign or cRLSign")
        }
        guard certificate.notValidBefore <= now.addingTimeInterval(300), certificate.notValidAfter > now else {
            throw .notValid("the certificate is not valid now (\(certificate.notValidBefore) – \(certificate.notValidAfter))")
        }
        var child = certificate
        for parent in chain {
            guard parent.publicKey.isValidSignature(child.signature, for: child), parent.subject == child.issuer else {
                throw .chainBroken("the chain does not link: \(parent.subject) did not issue \(child.subject)")
            }
            child = parent
        }
    }

    /// The key directory exists with mode 0700 (created on first use).
    static func prepareDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } else if !isDirectory.boolValue {
            throw CAKeyFileError("\(path) (CERTCTL_SIGNER_KEY_DIR) is not a directory")
        }
        let mode = ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? 0
        guard mode & 0o077 == 0 else {
            throw CAKeyFileError("\(path) (CERTCTL_SIGNER_KEY_DIR) is accessible by group or others (mode \(String(mode, radix: 8))); chmod 700 it")
        }
    }

    /// UTC time to the millisecond: file names sort by creation and never collide.
    static func stamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return formatter.string(from: date) + String(format: "%03d", Int(milliseconds % 1000))
    }

    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }
}
