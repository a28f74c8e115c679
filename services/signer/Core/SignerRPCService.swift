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
/// mTLS certificate, authorise it for the method, bound the message, parse
/// and check what it asks to be signed against what the signer reads itself,
/// sign, check the result, record it with an audit row under the caller's
/// verified identity. Refusals are typed, audited and counted.
struct SignerRPCService: SignerRPC.SimpleServiceProtocol {
    let keyring: IssuerKeyring
    let signer: any Signer
    let store: SignerStore
    let issuerStore: IssuerStore
    let generations: IssuerGenerationStore
    let rotation: KeyRotation
    let lifecycle: GenerationLifecycle
    let database: Database
    let crlRules: CRLRules
    let clock: ClockSkewGuard
    let logger: Logger

    /// Which service identities may call which operation.
    static let permissions: [String: Set<String>] = [
        "SignCertificate/leaf": ["admin", "enroll"],
        "SignCertificate/ocsp-responder": ["ocsp"],
        "SignCRL": ["crl"],
        "GetIssuer": ["admin", "enroll", "crl", "ocsp"],
        "RotateIssuer": ["admin"],
        "InstallGenerationCertificate": ["admin"],
    ]

    /// A TBSCertificate is a few KiB; anything larger is refused before it is parsed.
    static let maxTBSCertificateBytes = 16 << 10

    func signCertificate(
        request: Certctl_Signer_V1_SignCertificateRequest, context: ServerContext
    ) async throws -> Certctl_Signer_V1_SignCertificateResponse {
        let operation = request.purpose == .ocspResponder ? "SignCertificate/ocsp-responder" : "SignCertificate/leaf"
        let caller = try await authorise(operation, context: context)
        let started = ContinuousClock.now
        do {
            try clock.check()
            guard request.tbsCertificate.count <= Self.maxTBSCertificateBytes else {
                throw SigningRefusal.messageTooLarge("the TBSCertificate is \(request.tbsCertificate.count) bytes; at most \(Self.maxTBSCertificateBytes)")
            }
            let der: [UInt8]
            switch request.purpose {
            case .leaf: der = try await signLeaf(request, caller: caller)
            case .ocspResponder: der = try await signResponder(request, caller: caller)
            default: throw SigningRefusal.malformed("purpose must be LEAF or OCSP_RESPONDER")
            }
            Counter(label: "certctl_signer_signatures_total", dimensions: [("kind", operation)]).increment()
            let elapsed = started.duration(to: .now)
            Timer(label: "certctl_signer_sign_duration_seconds", dimensions: [("kind", operation)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            var response = Certctl_Signer_V1_SignCertificateResponse()
            response.certificate = Data(der)
            return response
        } catch let refusal as SigningRefusal {
            throw await refuse(refusal, operation: operation, caller: caller, targetType: "certificate",
                               target: request.certificateID,
                               details: ["issuer_id": request.issuerID, "profile_id": request.profileID,
                                         "requested_by": request.requestedBy])
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
        response.keyFiles = keyring.keyPaths(request.issuerID).map { generation, path in
            var state = Certctl_Signer_V1_KeyFileState()
            state.issuerGeneration = UInt32(generation)
            state.path = path
            state.problem = Self.keyFileProblem(path) ?? ""
            state.ownerOnly = state.problem.isEmpty
            return state
        }
        return response
    }

    /// Why a CA key file is not private right now (missing, or group/others may use it); nil when it is.
    static func keyFileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
        let mode = info.st_mode & 0o777
        return mode & 0o077 == 0 ? nil : "mode \(String(mode, radix: 8)): group or others may access it"
    }

    /// Signs `tbs` with the generation's key and returns the complete certificate, checked to verify.
    func signAndAssemble(_ tbs: [UInt8], parsed: TBSCertificateParser.Parsed, issuerID: String, generation: Int, ca: LoadedCA)
        async throws -> [UInt8]
    {
        let signature = try await signer.sign(tbs, issuerID: issuerID, generation: generation)
        let der = CertificateAssembler.assemble(tbs: tbs, signatureAlgorithmDER: parsed.signatureAlgorithmDER, signature: signature)
        // Self-check: what we return parses and verifies under the CA key.
        let issued = try Certificate(derEncoded: der)
        guard ca.certificate.publicKey.isValidSignature(issued.signature, for: issued) else {
            throw SigningRefusal.malformed("internal: signature does not verify")
        }
        return der
    }

    static func parseTBS(_ bytes: [UInt8]) throws(SigningRefusal) -> TBSCertificateParser.Parsed {
        do { return try TBSCertificateParser.parse(bytes) } catch { throw .malformed("\(error)") }
    }

    // MARK: Authorisation, refusals, audit

    func authorise(_ operation: String, context: ServerContext) async throws -> ServiceIdentity {
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

    func refuse(
        _ refusal: SigningRefusal, operation: String, caller: ServiceIdentity, targetType: String, target: String,
        details: [String: String]
    ) async -> RPCError {
        Counter(label: "certctl_signer_refusals_total", dimensions: [("reason", refusal.code)]).increment()
        logger.warning("refused to sign", metadata: [
            "operation": "\(operation)", "caller": "\(caller)", "reason": "\(refusal.code)", "detail": "\(refusal)",
        ])
        await audit(AuditRecord(service: "signer", actor: "\(caller)", action: "signer.\(operation)", outcome: .failure,
                                targetType: targetType, targetID: target, errorCode: refusal.code,
                                details: details.merging(["detail": refusal.description]) { a, _ in a }))
        return RefusalTrailer.error(.failedPrecondition, code: refusal.code, message: refusal.description)
    }

    func audit(_ record: AuditRecord) async {
        do {
            try await AuditLog(client: database.client, logger: logger).record(record)
        } catch {
            logger.error("could not write audit event", metadata: ["action": "\(record.action)", "error": "\(DatabaseErrorText.describe(error))"])
        }
    }
}
