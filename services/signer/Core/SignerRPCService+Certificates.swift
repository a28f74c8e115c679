import CertctlPKI
import CertctlRPC
import CertctlStore
import Crypto
import Foundation
import X509

extension SignerRPCService {
    /// A leaf for a reserved row: only with the issuer's active generation,
    /// only if the TBS is what the reservation recorded and the caller may use
    /// its profile; stored in the row with the audit event in one statement.
    func signLeaf(_ request: Certctl_Signer_V1_SignCertificateRequest, caller: ServiceIdentity) async throws -> [UInt8] {
        guard let (generation, ca) = keyring.activeCA(request.issuerID) else {
            throw SigningRefusal.issuerMismatch("this signer holds no active key for issuer \(request.issuerID)")
        }
        if request.issuerGeneration != 0, Int(request.issuerGeneration) != generation {
            if keyring.resolve(request.issuerID, generation: request.issuerGeneration) != nil {
                throw SigningRefusal.generationRetired("generation \(request.issuerGeneration) of issuer \(request.issuerID) is retired; generation \(generation) signs leaves")
            }
            throw SigningRefusal.issuerMismatch("this signer holds no key for issuer \(request.issuerID) generation \(request.issuerGeneration)")
        }
        let tbs = Array(request.tbsCertificate)
        let parsed = try Self.parseTBS(tbs)
        guard let id = UUID(uuidString: request.certificateID) else {
            throw SigningRefusal.noReservation("certificate_id \(request.certificateID) is not a UUID")
        }
        guard let context = try await store.leafContext(certificateID: id) else {
            throw SigningRefusal.noReservation("no certificate row \(request.certificateID)")
        }
        let reservation = context.reservation
        guard reservation.issuerID == request.issuerID else {
            throw SigningRefusal.reservationMismatch("certificate row \(request.certificateID) belongs to issuer \(reservation.issuerID)")
        }
        guard request.profileID.isEmpty || request.profileID == reservation.profileID else {
            throw SigningRefusal.reservationMismatch("profile \(request.profileID) is not the reserved profile \(reservation.profileID ?? "(none)")")
        }
        try SigningPolicy.checkLeaf(parsed.certificate, ca: ca, generation: generation, context: context, caller: caller.name ?? "")
        let der = try await signAndAssemble(tbs, parsed: parsed, issuerID: request.issuerID, generation: generation, ca: ca)
        let stored = try await store.completeIssuance(
            id: id, issuerID: request.issuerID, serialHex: reservation.serialHex, certificateDER: der,
            audit: AuditRecord(service: "signer", actor: "\(caller)", action: "certificate.issue", outcome: .success,
                               targetType: "certificate", targetID: id.uuidString.lowercased(),
                               details: ["issuer_id": request.issuerID, "issuer_generation": "\(generation)",
                                         "serial_hex": reservation.serialHex, "profile_id": reservation.profileID ?? "",
                                         "requested_by": request.requestedBy, "reserved_by": reservation.reservedBy]))
        guard stored else {
            throw SigningRefusal.noReservation("certificate row \(request.certificateID) is no longer pending")
        }
        return der
    }

    /// A delegated OCSP responder certificate for any generation that still
    /// holds a key (retired ones answer for the certificates they issued);
    /// recorded as a certificate row with its audit event before it is returned.
    func signResponder(_ request: Certctl_Signer_V1_SignCertificateRequest, caller: ServiceIdentity) async throws -> [UInt8] {
        guard let (generation, ca) = keyring.resolve(request.issuerID, generation: request.issuerGeneration) else {
            throw SigningRefusal.issuerMismatch("this signer holds no key for issuer \(request.issuerID) generation \(request.issuerGeneration)")
        }
        // pending: not in use yet; archived: nothing it issued is unexpired, so nobody asks OCSP about it
        let status = keyring.status(request.issuerID, generation: generation)
        guard status == .active || status == .retired else {
            throw SigningRefusal.generationRetired("generation \(generation) of issuer \(request.issuerID) is \(status?.rawValue ?? "unknown"): it certifies no OCSP responder")
        }
        let tbs = Array(request.tbsCertificate)
        let parsed = try Self.parseTBS(tbs)
        let certificate = parsed.certificate
        try SigningPolicy.checkOCSPResponder(certificate, ca: ca)
        guard let serialHex = SerialNumber.canonicalHex(ofDERInteger: certificate.serialNumber.bytes) else {
            throw SigningRefusal.serial("serial number must be positive and at most 20 octets")
        }
        let der = try await signAndAssemble(tbs, parsed: parsed, issuerID: request.issuerID, generation: generation, ca: ca)
        let recorded = try await store.recordResponderCertificate(
            issuerID: request.issuerID, generation: generation, serialHex: serialHex, subject: certificate.subject.description,
            subjectDER: try ReservationFields.subjectDER(certificate.subject),
            spkiSHA256: try ReservationFields.spkiSHA256(certificate.publicKey),
            notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter, certificateDER: der,
            requestedBy: "\(caller)",
            audit: AuditRecord(service: "signer", actor: "\(caller)", action: "certificate.issue", outcome: .success,
                               targetType: "certificate",
                               details: ["issuer_id": request.issuerID, "issuer_generation": "\(generation)",
                                         "serial_hex": serialHex, "purpose": "ocsp-responder",
                                         "requested_by": request.requestedBy]))
        guard recorded != nil else {
            throw SigningRefusal.serial("serial \(serialHex) is already taken for issuer \(request.issuerID)")
        }
        return der
    }
}
