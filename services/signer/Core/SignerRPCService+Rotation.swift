import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import GRPCCore
import Metrics
import SwiftASN1
import X509

extension SignerRPCService {
    /// Starts a rotation (or creates an issuer: its first generation). The
    /// new key is made and kept here; the row is pending until it has its
    /// certificate and its activation time has come, then the lifecycle
    /// activates it and retires the previous generation.
    func rotateIssuer(
        request: Certctl_Signer_V1_RotateIssuerRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_GenerationResponse {
        let caller = try await authorise("RotateIssuer", context: context)
        do {
            let previous = keyring.activeCA(request.issuerID)
            let plan = try Self.plan(request, previous: previous?.ca)
            if let pending = keyring.pendingGeneration(plan.issuerID) {
                throw RotationRefusal.rotationPending(
                    "issuer \(plan.issuerID) already has a pending generation (\(pending)); install its certificate or wait for its activation")
            }
            let made: MadeGeneration
            do {
                made = try rotation.make(plan, previous: previous?.ca)
            } catch {
                throw RotationRefusal.keyStorage("cannot write the new generation's files: \(error)")
            }
            let generation: Int
            do {
                generation = try await generations.insert(
                    NewGeneration(facts: made.facts, status: .pending, csrDER: made.csrDER,
                                  crossCertificateDER: made.crossCertificateDER, activateAt: plan.activateAt),
                    createIssuer: previous == nil,
                    audit: AuditRecord(service: "signer", actor: "\(caller)", action: "issuer.rotate", outcome: .success,
                                       targetType: "issuer_generation",
                                       details: ["issuer_id": plan.issuerID, "mode": plan.mode == .subCA ? "sub-ca" : "self-signed",
                                                 "key_algorithm": plan.algorithm.rawValue, "subject": plan.subject.description,
                                                 "key_path": made.facts.keyPath ?? "", "requested_by": request.requestedBy,
                                                 "activate_at": plan.activateAt.map { "\(Int64($0.timeIntervalSince1970))" } ?? "now",
                                                 "cross_certificate": "\(made.crossCertificateDER != nil)"]))
            } catch let error as GenerationStoreError {
                throw RotationRefusal.rotationPending(error.description)
            }
            keyring.add(made.ca, issuerID: plan.issuerID, generation: generation, status: .pending)
            logger.info("key generation made", metadata: [
                "issuer_id": "\(plan.issuerID)", "generation": "\(generation)", "key": "\(made.facts.keyPath ?? "")",
            ])
            await lifecycle.runOnce()
            return response(plan.issuerID, generation: generation, certificate: made.ca?.certificateDER, csr: made.csrDER,
                            cross: made.crossCertificateDER, activateAt: plan.activateAt)
        } catch let refusal as RotationRefusal {
            throw await refuse(refusal, operation: "RotateIssuer", caller: caller, target: request.issuerID,
                               requestedBy: request.requestedBy)
        }
    }

    /// Records the certificate an external parent issued for a pending
    /// sub-CA generation, after checking it certifies that generation's key as a CA.
    func installGenerationCertificate(
        request: Certctl_Signer_V1_InstallGenerationCertificateRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_GenerationResponse {
        let caller = try await authorise("InstallGenerationCertificate", context: context)
        let generation = Int(request.issuerGeneration)
        do {
            guard keyring.status(request.issuerID, generation: generation) == .pending else {
                throw RotationRefusal.notPending("generation \(generation) of issuer \(request.issuerID) is not pending")
            }
            guard request.certificate.count <= Self.maxTBSCertificateBytes, request.chain.count <= 8 else {
                throw RotationRefusal.invalid("the certificate or chain is too large")
            }
            let certificate: Certificate, chain: [Certificate]
            do {
                certificate = try Certificate(derEncoded: Array(request.certificate))
                chain = try request.chain.map { try Certificate(derEncoded: Array($0)) }
            } catch {
                throw RotationRefusal.invalid("the certificate or chain is not DER X.509: \(error)")
            }
            guard let file = try await issuerStore.keyFiles().first(where: {
                $0.issuerID == request.issuerID && $0.generation == generation
            }) else {
                throw RotationRefusal.notPending("generation \(generation) of issuer \(request.issuerID) has no key file")
            }
            let key: Certificate.PrivateKey
            do {
                key = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: file.keyPath, encoding: .utf8))
            } catch {
                throw RotationRefusal.keyStorage("cannot read \(file.keyPath): \(error)")
            }
            guard key.publicKey == certificate.publicKey else {
                throw RotationRefusal.keyMismatch("the certificate does not certify generation \(generation)'s key")
            }
            try KeyRotation.checkParentCertificate(certificate, chain: chain)
            let der = Array(request.certificate)
            let certPath = String(file.keyPath.dropLast(".key".count)) + ".crt"
            let ca: LoadedCA
            do {
                try? FileManager.default.removeItem(atPath: certPath)  // a refused earlier install may have left one
                try CAKeyFiles.writePublic(PEM.certificate(der), to: certPath)
                ca = try CAKeyLoader.load(certificatePath: certPath, keyPath: file.keyPath,
                                          certificateVariable: "issuer_generations.cert_path",
                                          keyVariable: "issuer_generations.key_path")
            } catch {
                throw RotationRefusal.keyStorage("\(error)")
            }
            let activateAt = request.activateAt > 0 ? Date(timeIntervalSince1970: TimeInterval(request.activateAt)) : nil
            let facts = try IssuerKeyring.facts(certificate: certificate, der: der, algorithm: ca.algorithm,
                                                issuerID: request.issuerID, displayName: request.issuerID,
                                                certPath: certPath, keyPath: file.keyPath)
            do {
                try await generations.installCertificate(
                    facts, generation: generation, chainDER: request.chain.map { Array($0) }, activateAt: activateAt,
                    audit: AuditRecord(service: "signer", actor: "\(caller)", action: "issuer.generation.install", outcome: .success,
                                       targetType: "issuer_generation", targetID: "\(request.issuerID)/\(generation)",
                                       details: ["issuer_id": request.issuerID, "issuer_generation": "\(generation)",
                                                 "subject": certificate.subject.description,
                                                 "issuer": certificate.issuer.description,
                                                 "not_after": "\(Int64(certificate.notValidAfter.timeIntervalSince1970))",
                                                 "requested_by": request.requestedBy]))
            } catch let error as GenerationStoreError {
                throw RotationRefusal.notPending(error.description)
            }
            keyring.add(ca, issuerID: request.issuerID, generation: generation, status: .pending)
            await lifecycle.runOnce()
            return response(request.issuerID, generation: generation, certificate: der, csr: nil, cross: nil, activateAt: activateAt)
        } catch let refusal as RotationRefusal {
            throw await refuse(refusal, operation: "InstallGenerationCertificate", caller: caller,
                               target: "\(request.issuerID)/\(generation)", requestedBy: request.requestedBy)
        }
    }

    /// The request, checked, with the active generation's values as defaults.
    static func plan(_ request: Certctl_Signer_V1_RotateIssuerRequest, previous: LoadedCA?) throws(RotationRefusal) -> RotationPlan {
        guard IssuerID.isValid(request.issuerID) else {
            throw .invalid("issuer_id must be 1-63 lower-case letters, digits or hyphens, not starting with a hyphen")
        }
        let algorithm: KeyAlgorithm
        if request.keyAlgorithm.isEmpty {
            algorithm = previous?.algorithm ?? .ecdsaP256
        } else {
            guard let named = KeyAlgorithm(rawValue: request.keyAlgorithm) else {
                throw .invalid("key_algorithm \(request.keyAlgorithm) is not one of \(KeyAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            algorithm = named
        }
        let subject: DistinguishedName
        if request.subject.isEmpty {
            guard let previous else { throw .invalid("a new issuer needs a subject") }
            subject = previous.certificate.subject
        } else {
            do { subject = try SubjectName.parse(request.subject) } catch { throw .invalid("\(error)") }
        }
        let mode: RotationPlan.Mode
        switch request.mode {
        case .selfSigned: mode = .selfSigned
        case .subCa: mode = .subCA
        default:
            // like the generation it replaces: a root stays a root, a sub-CA asks its parent again
            mode = previous.map { $0.certificate.issuer == $0.certificate.subject } == false ? .subCA : .selfSigned
        }
        let validity: Duration
        if request.validitySeconds == 0 {
            validity = .seconds(3650 * 86_400)
        } else {
            guard request.validitySeconds >= Int64(KeyRotation.minimumValidity.components.seconds),
                  request.validitySeconds <= 50 * 365 * 86_400
            else { throw .invalid("validity_seconds must be between 3600 and 50 years") }
            validity = .seconds(request.validitySeconds)
        }
        guard !request.crossCertificate || (mode == .selfSigned && previous != nil) else {
            throw .invalid("a cross-certificate needs a self-signed rotation of an issuer with an active generation")
        }
        var activateAt: Date?
        if request.activateAt != 0 {
            guard request.activateAt > 0, request.activateAt < 4_102_444_800 else { throw .invalid("activate_at is not a time") }
            activateAt = Date(timeIntervalSince1970: TimeInterval(request.activateAt))
        }
        return RotationPlan(issuerID: request.issuerID, displayName: request.issuerID, mode: mode, algorithm: algorithm,
                            subject: subject, validity: validity, activateAt: activateAt,
                            crossCertificate: request.crossCertificate)
    }


    func response(_ issuerID: String, generation: Int, certificate: [UInt8]?, csr: [UInt8]?, cross: [UInt8]?, activateAt: Date?)
        -> Certctl_Signer_V1_GenerationResponse
    {
        var response = Certctl_Signer_V1_GenerationResponse()
        response.issuerID = issuerID
        response.issuerGeneration = UInt32(generation)
        response.status = (keyring.status(issuerID, generation: generation) ?? .pending).rawValue
        response.certificate = Data(certificate ?? [])
        response.csr = Data(csr ?? [])
        response.crossCertificate = Data(cross ?? [])
        response.activateAt = activateAt.map { Int64($0.timeIntervalSince1970) } ?? 0
        return response
    }

    func refuse(_ refusal: RotationRefusal, operation: String, caller: ServiceIdentity, target: String, requestedBy: String) async
        -> RPCError
    {
        Counter(label: "certctl_signer_refusals_total", dimensions: [("reason", refusal.code)]).increment()
        logger.warning("refused key generation operation", metadata: [
            "operation": "\(operation)", "caller": "\(caller)", "reason": "\(refusal.code)", "detail": "\(refusal)",
        ])
        await audit(AuditRecord(service: "signer", actor: "\(caller)", action: "signer.\(operation)", outcome: .failure,
                                targetType: "issuer_generation", targetID: target, errorCode: refusal.code,
                                details: ["detail": refusal.description, "requested_by": requestedBy]))
        let status: RPCError.Code = refusal.code == "issuer_not_found" ? .notFound : .failedPrecondition
        return RefusalTrailer.error(status, code: refusal.code, message: refusal.description)
    }
}
