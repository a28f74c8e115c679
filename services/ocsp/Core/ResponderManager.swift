import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Crypto
import Foundation
import Logging
import Metrics
import Synchronization
import SwiftASN1
import X509

enum ResponderError: Error, CustomStringConvertible {
    case keyFile(String)
    case signerRefused(String, String)
    case signerUnavailable(String)
    case badCertificate(String)

    var description: String {
        switch self {
        case .keyFile(let text): return "responder key file: \(text)"
        case .signerRefused(let code, let message): return "signer refused the responder certificate: \(code): \(message)"
        case .signerUnavailable(let text): return "signer unavailable: \(text)"
        case .badCertificate(let text): return "responder certificate: \(text)"
        }
    }
}

/// `ensureOCSPResponder`: this replica's delegated responder for an issuer
/// generation. Each replica holds its own key (a file, mode 0600, in
/// CERTCTL_OCSP_RESPONDER_KEY_DIR) and its own certificate for it, issued
/// through the signer and recorded in ocsp_responder_certs under the key's
/// id; a replica never signs with a certificate for a key it does not hold.
/// Missing row → a new certificate for the key on file; missing key file →
/// a new key and certificate; less than the rotation grace left → both new.
///
/// On a hot standby the row cannot be written: the certificate is kept in
/// memory only (one signer call per start and rotation, not per check), and
/// recorded once the database is a primary again (docs/scaling.md).
actor ResponderManager {
    struct Slot: Hashable {
        let issuerID: String
        let generation: Int
    }

    private struct Current {
        let identity: OCSPResponderIdentity
        let keyID: String
        var checkedAt: ContinuousClock.Instant
        /// The row still to save while the certificate has none (issued on a standby).
        var record: OCSPResponderRecord?
    }

    private var current: [Slot: Current] = [:]
    /// `current`'s identities and check times, readable without entering the actor
    /// (every live signature asks; an actor hop each would serialise them).
    private nonisolated let confirmed = Mutex<[Slot: (identity: OCSPResponderIdentity, checkedAt: ContinuousClock.Instant)]>([:])
    /// One bootstrap per slot at a time: concurrent first requests share it
    /// (the actor is re-entrant across the signer call).
    private var inFlight: [Slot: Task<OCSPResponderIdentity, any Error>] = [:]
    let directory: String
    let store: OCSPResponderStore
    let signer: any SigningClient
    let validity: Duration
    let grace: Duration
    let logger: Logger
    let role: DatabaseRole
    /// How long a checked identity is trusted before the key file and row are looked at again.
    static let recheckInterval: Duration = .seconds(1)

    init(directory: String, store: OCSPResponderStore, signer: any SigningClient,
         validity: Duration, grace: Duration, logger: Logger, role: DatabaseRole = DatabaseRole()) {
        self.role = role
        self.directory = directory
        self.store = store
        self.signer = signer
        self.validity = validity
        self.grace = grace
        self.logger = logger
    }

    func keyPath(_ slot: Slot) -> String {
        slot.generation == 1 ? "\(directory)/\(slot.issuerID).key" : "\(directory)/\(slot.issuerID).g\(slot.generation).key"
    }

    /// As `ensure`, answering from the identity confirmed less than `recheckInterval`
    /// ago (and not due for rotation) without entering the actor.
    nonisolated func identity(for issuer: IssuerDirectory.Generation, now: Date = Date()) async throws -> OCSPResponderIdentity {
        let slot = Slot(issuerID: issuer.issuerID, generation: issuer.generation)
        let rotateBefore = now.addingTimeInterval(Double(grace.components.seconds))
        if let known = confirmed.withLock({ $0[slot] }), known.checkedAt.duration(to: .now) < Self.recheckInterval,
           known.identity.notAfter > rotateBefore {
            return known.identity
        }
        return try await ensure(issuer, now: now)
    }

    func ensure(_ issuer: IssuerDirectory.Generation, now: Date = Date()) async throws -> OCSPResponderIdentity {
        let slot = Slot(issuerID: issuer.issuerID, generation: issuer.generation)
        let rotateBefore = now.addingTimeInterval(Double(grace.components.seconds))
        if let known = current[slot], known.checkedAt.duration(to: .now) < Self.recheckInterval,
           known.identity.notAfter > rotateBefore {
            return known.identity
        }
        if let running = inFlight[slot] { return try await running.value }
        // Awaited right here by this caller (and any that join it): its lifetime is this call's.
        let task = Task { try await self.check(issuer, slot: slot, rotateBefore: rotateBefore, now: now) }
        inFlight[slot] = task
        defer { inFlight[slot] = nil }
        return try await task.value
    }

    private func check(
        _ issuer: IssuerDirectory.Generation, slot: Slot, rotateBefore: Date, now: Date
    ) async throws -> OCSPResponderIdentity {
        let path = keyPath(slot)
        var key = try loadKey(path)
        if let existing = key {
            let keyID = OCSPResponderCertificate.keyID(existing.publicKey)
            let row = try await store.find(issuerID: slot.issuerID, generation: slot.generation, keyID: keyID)
            if let row, row.notAfter > rotateBefore {
                let identity = try identity(existing, row.certificateDER)
                remember(slot, identity, keyID: keyID)
                return identity
            }
            if row == nil, let known = current[slot], known.keyID == keyID, let unrecorded = known.record {
                // issued on a standby: serve it from memory, record it once writes work
                if unrecorded.notAfter > rotateBefore {
                    let recorded = (try? await self.record(unrecorded)) ?? false
                    let identity = known.identity
                    remember(slot, identity, keyID: keyID, unrecorded: recorded ? nil : unrecorded)
                    return identity
                }
                key = nil
            }
            if let row {
                logger.notice("rotating OCSP responder key and certificate", metadata: [
                    "issuer_id": "\(slot.issuerID)", "generation": "\(slot.generation)", "not_after": "\(row.notAfter)",
                ])
                key = nil
            }
            // no row: a new certificate for the key on file (runbook drill: row deleted)
        }
        let newKey = key == nil
        let signingKey = key ?? P256.Signing.PrivateKey()
        let keyID = OCSPResponderCertificate.keyID(signingKey.publicKey)
        let certificate = try await issueCertificate(for: signingKey, keyID: keyID, issuer: issuer, now: now)
        if newKey { try writeKey(signingKey, to: path) }
        let record = OCSPResponderRecord(
            issuerID: slot.issuerID, generation: slot.generation, keyID: keyID, subject: certificate.subject.description,
            serialHex: SerialNumber.canonicalHex(ofDERInteger: certificate.serialNumber.bytes) ?? "",
            certificateDER: try Self.der(certificate), keyPath: path,
            notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter)
        let recorded = try await self.record(record)
        logger.notice("bootstrapped OCSP responder certificate", metadata: [
            "issuer_id": "\(slot.issuerID)", "generation": "\(slot.generation)", "key_id": "\(keyID.prefix(16))",
            "new_key": "\(newKey)", "recorded": "\(recorded)", "serial": "\(record.serialHex)", "not_after": "\(record.notAfter)", "key_path": "\(path)",
        ])
        Counter(label: "certctl_ocsp_responder_bootstraps_total", dimensions: [("issuer_id", slot.issuerID)]).increment()
        let identity = try identity(signingKey, record.certificateDER)
        remember(slot, identity, keyID: keyID, unrecorded: recorded ? nil : record)
        return identity
    }

    /// Saves the row; false (nothing saved) on a standby, which refuses writes.
    private func record(_ record: OCSPResponderRecord) async throws -> Bool {
        guard !role.isStandby else { return false }
        do {
            try await store.save(record)
            return true
        } catch where DatabaseErrorText.isReadOnly(error) {
            return false
        }
    }

    private func remember(_ slot: Slot, _ identity: OCSPResponderIdentity, keyID: String, unrecorded: OCSPResponderRecord? = nil) {
        let checkedAt = ContinuousClock.now
        current[slot] = Current(identity: identity, keyID: keyID, checkedAt: checkedAt, record: unrecorded)
        confirmed.withLock { $0[slot] = (identity, checkedAt) }
        Gauge(label: "certctl_ocsp_responder_not_after_seconds",
              dimensions: [("issuer_id", slot.issuerID), ("generation", "\(slot.generation)")])
            .record(identity.notAfter.timeIntervalSince1970)
    }

    private func identity(_ key: P256.Signing.PrivateKey, _ der: [UInt8]) throws -> OCSPResponderIdentity {
        let certificate = try Certificate(derEncoded: der)
        guard P256.Signing.PublicKey(certificate.publicKey)?.rawRepresentation == key.publicKey.rawRepresentation else {
            throw ResponderError.badCertificate("the stored certificate is not for this replica's key")
        }
        return OCSPResponderIdentity(key: key, certificateDER: der, notAfter: certificate.notValidAfter)
    }

    private func issueCertificate(
        for key: P256.Signing.PrivateKey, keyID: String, issuer: IssuerDirectory.Generation, now: Date
    ) async throws -> Certificate {
        let notBefore = max(now.addingTimeInterval(-300), issuer.certificate.notValidBefore)
        let notAfter = min(now.addingTimeInterval(Double(validity.components.seconds)), issuer.certificate.notValidAfter)
        let tbs = try OCSPResponderCertificate.tbs(
            serial: SerialNumber.random(), publicKey: key.publicKey,
            subject: try OCSPResponderCertificate.subject(issuerID: issuer.issuerID, generation: issuer.generation, keyID: keyID),
            issuer: issuer.certificate, notBefore: notBefore, notAfter: notAfter)
        let der: [UInt8]
        do {
            der = try await signer.signOCSPResponder(
                issuerID: issuer.issuerID, generation: issuer.generation, tbs: tbs, timeout: .seconds(10))
        } catch .refused(let code, let message) {
            throw ResponderError.signerRefused(code, message)
        } catch .unavailable(let text) {
            throw ResponderError.signerUnavailable(text)
        }
        let certificate = try Certificate(derEncoded: der)
        guard issuer.certificate.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            throw ResponderError.badCertificate("signature does not verify under issuer \(issuer.issuerID) generation \(issuer.generation)")
        }
        return certificate
    }

    private func loadKey(_ path: String) throws -> P256.Signing.PrivateKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            try PrivateFile.checkOwnerOnly(path, variable: Catalog.ocspResponderKeyDir.name)
        } catch {
            throw ResponderError.keyFile("\(error)")
        }
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: path, encoding: .utf8))
        } catch {
            throw ResponderError.keyFile("\(path) is not a PEM P-256 private key (delete it to bootstrap a new one): \(error)")
        }
    }

    /// Written to a temporary file created with mode 0600, then renamed into place.
    private func writeKey(_ key: P256.Signing.PrivateKey, to path: String) throws {
        let temporary = "\(path).tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ResponderError.keyFile("cannot create \(temporary): errno \(errno)") }
        let bytes = Array(key.pemRepresentation.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ResponderError.keyFile("cannot write \(path): errno \(errno)")
        }
    }

    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }
}
