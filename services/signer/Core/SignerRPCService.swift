import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Metrics
import X509

/// certctl-signer's gRPC service. Every method: identify the caller by its
/// mTLS certificate, authorise it for the method, parse and check what it
/// asks to be signed, sign, check the result, record it. Refusals are typed,
/// audited and counted.
struct SignerRPCService: SignerRPC.SimpleServiceProtocol {
    let keyring: IssuerKeyring
    let signer: any Signer
    let issuers: IssuerStore
    let certificates: CertificateRecordStore
    let database: Database
    let logger: Logger

    /// Which service identities may call which operation.
    static let permissions: [String: Set<String>] = [
        "SignCertificate/leaf": ["admin", "enroll"],
        "SignCertificate/ocsp-responder": ["ocsp"],
        "SignCRL": ["crl"],
        "GetIssuer": ["admin", "enroll", "crl", "ocsp"],
    ]

    func signCertificate(
        request: Certctl_Signer_V1_SignCertificateRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_SignCertificateResponse {
        let operation = request.purpose == .ocspResponder ? "SignCertificate/ocsp-responder" : "SignCertificate/leaf"
        let caller = try await authorise(operation, context: context)
        let started = ContinuousClock.now
        do {
            guard request.purpose == .leaf || request.purpose == .ocspResponder else {
                throw SigningRefusal.malformed("purpose must be LEAF or OCSP_RESPONDER")
            }
            guard let (generation, ca) = keyring.resolve(request.issuerID, generation: request.issuerGeneration) else {
                throw SigningRefusal.issuerMismatch("this signer holds no key for issuer \(request.issuerID) generation \(request.issuerGeneration)")
            }
            let tbs: TBSCertificateParser.Parsed
            do { tbs = try TBSCertificateParser.parse(Array(request.tbsCertificate)) } catch {
                throw SigningRefusal.malformed("\(error)")
            }
            let certificate = tbs.certificate
            guard let serialHex = SerialNumber.canonicalHex(ofDERInteger: certificate.serialNumber.bytes) else {
                throw SigningRefusal.serial("serial number must be positive and at most 20 octets")
            }
            if request.purpose == .leaf {
                guard let id = UUID(uuidString: request.certificateID) else {
                    throw SigningRefusal.noReservation("certificate_id \(request.certificateID) is not a UUID")
                }
                let context = try await certificates.signingContext(
                    id: id, issuerID: request.issuerID, serialHex: serialHex, profileID: request.profileID)
                guard let profile = context.profile?.policy else {
                    throw SigningRefusal.notAllowed(.usageNotAllowed("profile \(request.profileID) does not exist or is invalid"))
                }
                try SigningPolicy.checkLeaf(certificate, ca: ca, issuerAllowsSubCA: context.issuerAllowsSubCA, profile: profile)
                guard context.pending else {
                    throw SigningRefusal.noReservation("no pending certificate row \(request.certificateID) for issuer \(request.issuerID) serial \(serialHex)")
                }
            } else {
                try SigningPolicy.checkOCSPResponder(certificate, ca: ca)
            }
            let signature = try await signer.sign(Array(request.tbsCertificate), issuerID: request.issuerID, generation: generation)
            let der = CertificateAssembler.assemble(
                tbs: Array(request.tbsCertificate), signatureAlgorithmDER: tbs.signatureAlgorithmDER, signature: signature)
            // Self-check: what we return parses and verifies under the CA key.
            let issued = try Certificate(derEncoded: der)
            guard ca.certificate.publicKey.isValidSignature(issued.signature, for: issued) else {
                throw SigningRefusal.malformed("internal: signature does not verify")
            }
            if request.purpose == .leaf, let id = UUID(uuidString: request.certificateID) {
                let stored = try await certificates.completeIssuance(
                    id: id, issuerID: request.issuerID, serialHex: serialHex, certificateDER: der,
                    audit: AuditRecord(service: "signer", actor: request.requestedBy, action: "certificate.issue",
                                       outcome: .success, targetType: "certificate", targetID: request.certificateID,
                                       details: ["issuer_id": request.issuerID, "serial_hex": serialHex,
                                                 "caller": "\(caller)", "profile_id": request.profileID]))
                guard stored else {
                    throw SigningRefusal.noReservation("certificate row \(request.certificateID) is no longer pending")
                }
            }
            Counter(label: "certctl_signer_signatures_total", dimensions: [("kind", operation)]).increment()
            let elapsed = started.duration(to: .now)
            Timer(label: "certctl_signer_sign_duration_seconds", dimensions: [("kind", operation)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            var response = Certctl_Signer_V1_SignCertificateResponse()
            response.certificate = Data(der)
            return response
        } catch let refusal as SigningRefusal {
            throw await refuse(refusal, operation: operation, caller: caller, target: request.certificateID,
                               details: ["issuer_id": request.issuerID, "profile_id": request.profileID])
        }
    }

    func signCRL(
        request: Certctl_Signer_V1_SignCRLRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_SignCRLResponse {
        let caller = try await authorise("SignCRL", context: context)
        return try await signCRL(issuerID: request.issuerID, generation: request.issuerGeneration,
                                 tbs: Array(request.tbsCertList), caller: caller)
    }

    /// The largest TBSCertList the stream accepts (as the unary call's message cap).
    static let maxStreamedTBSBytes = 256 << 20

    func signCRLStream(
        request: RPCAsyncSequence<Certctl_Signer_V1_SignCRLChunk, any Error>, context: ServerContext
    ) async throws -> Certctl_Signer_V1_SignCRLResponse {
        let caller = try await authorise("SignCRL", context: context)
        var issuerID = "", generation: UInt32 = 0
        var tbs: [UInt8] = []
        var first = true
        for try await chunk in request {
            if first {
                issuerID = chunk.issuerID
                generation = chunk.issuerGeneration
                // The DER header of the first piece tells the whole length: reserve it once.
                if let length = TBSCertListSummary.encodedLength(prefix: Array(chunk.tbsPart.prefix(8))),
                   length <= Self.maxStreamedTBSBytes {
                    tbs.reserveCapacity(length)
                }
                first = false
            }
            guard tbs.count + chunk.tbsPart.count <= Self.maxStreamedTBSBytes else {
                throw await refuse(.malformed("the TBSCertList exceeds \(Self.maxStreamedTBSBytes) bytes"), operation: "SignCRL",
                                   caller: caller, target: issuerID, details: [:])
            }
            tbs.append(contentsOf: chunk.tbsPart)
        }
        return try await signCRL(issuerID: issuerID, generation: generation, tbs: tbs, caller: caller)
    }

    private func signCRL(
        issuerID: String, generation requested: UInt32, tbs: [UInt8], caller: ServiceIdentity
    ) async throws -> Certctl_Signer_V1_SignCRLResponse {
        do {
            guard let (generation, ca) = keyring.resolve(issuerID, generation: requested) else {
                throw SigningRefusal.issuerMismatch("this signer holds no key for issuer \(issuerID) generation \(requested)")
            }
            let summary: TBSCertListSummary
            do { summary = try TBSCertListSummary(derEncoded: tbs) } catch { throw SigningRefusal.malformed("\(error)") }
            let expectedAlgorithm = try SignatureAlgorithmIdentifier.der(ca.algorithm.signatureAlgorithm)
            guard summary.signatureAlgorithmDER == expectedAlgorithm else {
                throw SigningRefusal.signatureAlgorithm("CRL signature algorithm is not the issuer's \(ca.algorithm.signatureAlgorithm)")
            }
            guard summary.issuer == ca.certificate.subject else {
                throw SigningRefusal.issuerMismatch("CRL issuer \(summary.issuer) is not the CA's subject")
            }
            guard let number = summary.crlNumber, number.first.map({ $0 & 0x80 == 0 }) == true, number.count <= 20 else {
                throw SigningRefusal.crlNumber("the CRL must carry a non-negative CRL Number of at most 20 octets")
            }
            let decimal = TBSCertListSummary.decimal(number)
            guard try await issuers.advanceCRLNumber(issuerID: issuerID, to: decimal) else {
                throw SigningRefusal.crlNumber("CRL number \(decimal) is not greater than the last one signed for \(issuerID)")
            }
            let signature = try await signer.sign(tbs, issuerID: issuerID, generation: generation)
            Counter(label: "certctl_signer_signatures_total", dimensions: [("kind", "SignCRL")]).increment()
            var response = Certctl_Signer_V1_SignCRLResponse()
            response.signature = Data(signature)
            return response
        } catch let refusal as SigningRefusal {
            throw await refuse(refusal, operation: "SignCRL", caller: caller, target: issuerID, details: [:])
        }
    }

    func getIssuer(
        request: Certctl_Signer_V1_GetIssuerRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_GetIssuerResponse {
        _ = try await authorise("GetIssuer", context: context)
        guard let (generation, ca) = keyring.activeCA(request.issuerID) else {
            throw RefusalTrailer.error(.notFound, code: "issuer_not_found", message: "this signer holds no active key for issuer \(request.issuerID)")
        }
        var response = Certctl_Signer_V1_GetIssuerResponse()
        response.issuerID = request.issuerID
        response.issuerGeneration = UInt32(generation)
        response.certificate = Data(ca.certificateDER)
        return response
    }

    // MARK: Authorisation and refusals

    private func authorise(_ operation: String, context: ServerContext) async throws -> ServiceIdentity {
        let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
        let caller = ServiceIdentity(certificate: certificate)
        guard let name = caller.name, Self.permissions[operation]?.contains(name) == true else {
            Counter(label: "certctl_signer_refusals_total", dimensions: [("reason", "permission_denied")]).increment()
            logger.warning("refused RPC: caller not authorised", metadata: ["operation": "\(operation)", "caller": "\(caller)"])
            await audit(AuditRecord(service: "signer", actor: "\(caller)", action: "signer.\(operation)", outcome: .denied,
                                    errorCode: "permission_denied", details: ["peer": context.remotePeer]))
            throw RefusalTrailer.error(.permissionDenied, code: "permission_denied", message: "\(caller) may not call \(operation)")
        }
        return caller
    }

    private func refuse(
        _ refusal: SigningRefusal, operation: String, caller: ServiceIdentity, target: String, details: [String: String]
    ) async -> RPCError {
        Counter(label: "certctl_signer_refusals_total", dimensions: [("reason", refusal.code)]).increment()
        logger.warning("refused to sign", metadata: [
            "operation": "\(operation)", "caller": "\(caller)", "reason": "\(refusal.code)", "detail": "\(refusal)",
        ])
        await audit(AuditRecord(service: "signer", actor: "\(caller)", action: "signer.\(operation)", outcome: .failure,
                                targetType: operation == "SignCRL" ? "issuer" : "certificate", targetID: target,
                                errorCode: refusal.code, details: details.merging(["detail": refusal.description]) { a, _ in a }))
        return RefusalTrailer.error(.failedPrecondition, code: refusal.code, message: refusal.description)
    }

    private func audit(_ record: AuditRecord) async {
        do {
            try await database.client.withConnection { try await AuditLog.record(record, on: $0, logger: logger) }
        } catch {
            logger.error("could not write audit event", metadata: ["action": "\(record.action)", "error": "\(DatabaseErrorText.describe(error))"])
        }
    }
}

