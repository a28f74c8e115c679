import CertctlConfig
import CertctlIssuance
import CertctlPKI
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import Logging
import SwiftASN1
import X509

/// The SCEP operations of one request, independent of HTTP: GetCACaps,
/// GetCACert and PKIOperation (PKCSReq, RenewalReq, CertPoll for requests held
/// for approval). Every refusal is counted and audited (per client address and
/// minute, RefusalAggregator) with a typed code and answered in SCEP's own form (CertRep FAILURE + failInfo,
/// or an HTTP error when the message cannot even be read).
package struct SCEPResponder: Sendable {
    let store: EnrollmentSCEPStore
    let issuers: IssuerStore
    let raKeys: SCEPRAKeyCache
    let issuance: IssuanceService
    let certificates: CertificateRecordStore
    /// Connector certificates of signed challenges (trust bundles of purpose scep-signed-challenge).
    let trustAnchors: TrustAnchorHolder
    let approvals: EnrollmentRequestStore
    let audit: AuditLog
    let metrics: EnrollMetrics
    let logger: Logger
    /// CERTCTL_SCEP_ALLOW_SINGLE_DES: single-DES envelopes are refused unless an operator allows them.
    let allowSingleDES: Bool
    let challengeThrottle: ChallengeThrottle

    package init(store: EnrollmentSCEPStore, issuers: IssuerStore, raKeys: SCEPRAKeyCache, issuance: IssuanceService,
                 certificates: CertificateRecordStore, trustAnchors: TrustAnchorHolder, approvals: EnrollmentRequestStore,
                 audit: AuditLog, metrics: EnrollMetrics, logger: Logger, allowSingleDES: Bool = false,
                 challengeThrottle: ChallengeThrottle = ChallengeThrottle(perSource: 10, perEndpoint: 100)) {
        self.allowSingleDES = allowSingleDES
        self.challengeThrottle = challengeThrottle
        self.store = store
        self.issuers = issuers
        self.raKeys = raKeys
        self.issuance = issuance
        self.certificates = certificates
        self.trustAnchors = trustAnchors
        self.approvals = approvals
        self.audit = audit
        self.metrics = metrics
        self.logger = logger
    }

    /// RFC 8894 §3.5.2. DES3 only where the system libcrypto provides it. (CertPoll/GetCertInitial has no
    /// capability keyword in RFC 8894: a client that gets PENDING may always poll.)
    static let capabilities = ["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal"]
        + (CMSContentCipher.legacyDESAvailable ? ["DES3"] : [])

    /// An answer the HTTP layer writes out.
    package enum Reply {
        case message([UInt8])                      // application/x-pki-message
        case caCertificates([UInt8])               // application/x-x509-ca-ra-cert
        case text(String)                          // GetCACaps
        case httpError(status: Int, code: String, message: String)

        /// A failure of the server: its generic code and id (text body `code: message`).
        static func incident(_ incident: Incident) -> Reply {
            .httpError(status: incident.status, code: incident.code, message: incident.message)
        }
    }

    func endpoint(_ name: String) async throws -> SCEPEndpointRecord? {
        try await store.get(name)
    }

    package func caCertificates(_ endpoint: SCEPEndpointRecord) async -> Reply {
        do {
            let ra = try raKeys.identity(for: endpoint)
            guard let issuer = try await issuers.get(endpoint.issuerID) else {
                return .httpError(status: 500, code: "scep_issuer_missing", message: "issuer \(endpoint.issuerID) does not exist")
            }
            let ca = try Certificate(derEncoded: issuer.certificateDER)
            metrics.count("scep", "GetCACert", "success")
            return .caCertificates(try CMSSignedData.certsOnly([ra.certificate, ca]))
        } catch let error as SCEPRAKeyCache.LoadError {
            logger.error("SCEP RA unavailable", metadata: ["profile": "\(endpoint.name)", "error": "\(error)"])
            metrics.count("scep", "GetCACert", error.code)
            return .httpError(status: 500, code: error.code, message: "the RA of this profile is not available")
        } catch {
            metrics.count("scep", "GetCACert", "unavailable")
            return .incident(Incident.record("SCEP GetCACert failed", error: error, metadata: ["profile": "\(endpoint.name)"], logger: logger))
        }
    }

    /// PKIOperation: decode, verify, decrypt, check the challenge, issue, answer.
    package func pkiOperation(_ endpoint: SCEPEndpointRecord, body: [UInt8], remote: String) async -> Reply {
        let message: SCEPPKIMessage
        do {
            message = try SCEPPKIMessage.parse(body)
        } catch {
            await refuse(endpoint, nil, error, remote: remote)
            return .httpError(status: 400, code: error.code, message: error.message)
        }
        let ra: SCEPRAIdentity
        do {
            ra = try raKeys.identity(for: endpoint)
        } catch {
            logger.error("SCEP RA unavailable", metadata: ["profile": "\(endpoint.name)", "error": "\(error)"])
            metrics.count("scep", "PKIOperation", error.code)
            return .httpError(status: 500, code: error.code, message: "the RA of this profile is not available")
        }
        do {
            let outcome = try await handle(message, endpoint: endpoint, ra: ra, remote: remote)
            if case .pending = outcome {
                metrics.count("scep", Self.operation(message.messageType), "pending")
            } else {
                metrics.count("scep", Self.operation(message.messageType), "success")
            }
            return .message(try SCEPCertRep.build(
                outcome, transactionID: message.transactionID, recipientNonce: message.senderNonce, digest: message.digest, ra: ra))
        } catch let error as SCEPError {
            await refuse(endpoint, message, error, remote: remote)
            do {
                return .message(try SCEPCertRep.build(.failure(error.failInfo), transactionID: message.transactionID,
                                                      recipientNonce: message.senderNonce, digest: message.digest, ra: ra))
            } catch {
                return .incident(Incident.record("SCEP CertRep could not be built", error: error,
                                                 metadata: ["profile": "\(endpoint.name)"], logger: logger))
            }
        } catch IssuanceError.signerUnavailable {
            // a retryable server error, not a CertRep FAILURE
            metrics.count("scep", Self.operation(message.messageType), "unavailable")
            logger.error("SCEP request could not be completed: the signer is unavailable", metadata: ["profile": "\(endpoint.name)"])
            return .httpError(status: 503, code: "scep_signer_unavailable", message: "try again later")
        } catch IssuanceError.databaseReadOnly {
            metrics.count("scep", Self.operation(message.messageType), "unavailable")
            logger.error("SCEP request could not be completed: the database is read-only", metadata: ["profile": "\(endpoint.name)"])
            return .httpError(status: 503, code: "scep_database_read_only", message: "try again later")
        } catch {
            // Database down (503, retryable) or a bug (500): the client gets the incident id, the log the details.
            metrics.count("scep", Self.operation(message.messageType), "unavailable")
            return .incident(Incident.record("SCEP request could not be completed", error: error,
                                             metadata: ["profile": "\(endpoint.name)", "transaction_id": "\(message.transactionID)"],
                                             logger: logger))
        }
    }

    /// CertRep SUCCESS with `certificates`, enveloped to the requester with the cipher it used.
    static func issued(_ certificates: [Certificate], to message: SCEPPKIMessage) -> SCEPCertRep.Outcome {
        .success(certificates: certificates, recipient: message.signerCertificate, cipher: message.contentCipher())
    }

    static func operation(_ type: SCEPMessageType?) -> String {
        switch type {
        case .pkcsReq?: "PKCSReq"
        case .renewalReq?: "RenewalReq"
        case .certPoll?: "CertPoll"
        default: "PKIOperation"
        }
    }

    private func handle(_ message: SCEPPKIMessage, endpoint: SCEPEndpointRecord, ra: SCEPRAIdentity, remote: String) async throws -> SCEPCertRep.Outcome {
        guard message.messageType == .pkcsReq || message.messageType == .renewalReq || message.messageType == .certPoll else {
            throw SCEPError("scep_operation_unsupported", .badRequest,
                            "messageType \(message.messageType.rawValue) is not supported (PKCSReq, RenewalReq and CertPoll only)")
        }
        if message.contentEncryptionAlgorithm == CMSOID.desCBC, !allowSingleDES {
            throw SCEPError("scep_single_des_disabled", .badAlg,
                            "single DES (des-cbc) envelopes are refused; use AES or 3DES (CERTCTL_SCEP_ALLOW_SINGLE_DES enables it)")
        }
        // open() verifies the signature with the signer certificate's key: possession of that key is proven.
        let inner = try message.open(with: ra)
        if message.messageType == .certPoll {
            let poll = try SCEPIssuerAndSubject.parse(inner)
            guard let held = try await approvals.latestSCEP(endpoint: endpoint.name, transactionID: message.transactionID) else {
                throw SCEPError("scep_poll_unknown_transaction", .badCertID,
                                "no request with transactionID \(message.transactionID) (subject \(poll.subject)) on this profile")
            }
            return try await answer(held, to: message, csr: nil)
        }
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: inner)
        } catch {
            throw SCEPError("scep_malformed_csr", .badRequest, "messageData is not a PKCS#10 request: \(error)")
        }
        // A request held for approval is answered with its state when its transaction comes again. This comes
        // before the challenge (consumed by the first message) and the replay check (an identical resend is a replay).
        if let held = try await approvals.latestSCEP(endpoint: endpoint.name, transactionID: message.transactionID),
           try await isResend(message, csr: csr, of: held) {
            return try await answer(held, to: message, csr: csr)
        }
        var renewed: CertificateRecord?
        var consumed: ConsumedChallenge?
        if message.messageType == .renewalReq {
            renewed = try await checkRenewal(message.signerCertificate, csr: csr, endpoint: endpoint)
        } else {
            guard csr.publicKey == message.signerCertificate.publicKey else {
                throw SCEPError("scep_signer_key_mismatch", .badMessageCheck, "the message is not signed with the CSR's key")
            }
            guard !challengeThrottle.isThrottled(endpoint: endpoint.name, source: remote) else {
                throw SCEPError("scep_challenge_throttled", .badRequest,
                                "too many wrong challenges from this source or on this profile in the last minute; retry later")
            }
            do {
                consumed = try await checkChallenge(try csr.challengePassword, csr: csr, endpoint: endpoint,
                                                    transactionID: message.transactionID)
            } catch let error as SCEPError where error.code != "scep_challenge_missing" {
                challengeThrottle.recordFailure(endpoint: endpoint.name, source: remote)
                throw error
            }
        }
        if endpoint.requireApproval {
            return try await hold(message, csr: csr, csrDER: inner, endpoint: endpoint, renewed: renewed, remote: remote)
        }
        // A replayed message repeats transactionID *and* senderNonce. certmonger reuses the transactionID
        // (a hash of the key) when it resubmits or renews with the same key, with a fresh nonce: that is a new request.
        let replayKey = message.transactionID + "/" + Hex.string(message.senderNonce)
        guard try await store.beginTransaction(profile: endpoint.name, transactionID: replayKey) else {
            throw SCEPError("scep_transaction_replayed", .badRequest,
                            "this message (transactionID \(message.transactionID), same senderNonce) was already processed")
        }
        let result: IssuanceResult
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(csr)
            result = try await issuance.issue(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: serializer.serializedBytes).pemString,
                issuerID: endpoint.issuerID, profileID: endpoint.profileID, validityDays: endpoint.validityDays,
                requestedBy: "scep:\(endpoint.name)", source: "scep", idempotencyKey: nil,
                enrollmentEndpoint: EnrollmentEndpoint.scep(endpoint.name)))
        } catch let error as IssuanceError {
            switch error {
            case .signerUnavailable, .databaseReadOnly:
                // Retryable, and not the device's fault: neither this message nor its challenge is used up,
                // so a resend (even of the same bytes) is served once the signer is back.
                try? await store.forgetTransaction(profile: endpoint.name, transactionID: replayKey)
                await giveBack(consumed, endpoint: endpoint, transactionID: message.transactionID)
                throw error
            default:
                try? await store.finishTransaction(profile: endpoint.name, transactionID: replayKey, certificateID: nil)
                throw SCEPError("scep_issuance_refused_\(error.code)", .badRequest, error.description)
            }
        }
        try await store.finishTransaction(profile: endpoint.name, transactionID: replayKey, certificateID: result.certificate.id)
        try? await audit.record(AuditRecord(
            service: "enroll", actor: "scep:\(endpoint.name)", action: message.messageType == .renewalReq ? "scep.renew" : "scep.enroll",
            outcome: .success, targetType: "certificate", targetID: result.certificate.id.uuidString.lowercased(),
            details: ["transaction_id": message.transactionID, "remote": remote, "serial": result.certificate.serialHex]
                .merging(CertificateStanding.auditDetails(renewed: renewed)) { a, _ in a }))
        return Self.issued([try Certificate(derEncoded: result.certificate.certificateDER ?? [])], to: message)
    }

    /// Stores a checked request as pending (endpoint with require_approval). Issuance's own checks run
    /// now, so an operator is never asked to approve a request the profile would refuse.
    private func hold(_ message: SCEPPKIMessage, csr: CertificateSigningRequest, csrDER: [UInt8], endpoint: SCEPEndpointRecord,
                      renewed: CertificateRecord?, remote: String) async throws -> SCEPCertRep.Outcome {
        do {
            try await issuance.check(IssuanceRequest(
                csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: csrDER).pemString, issuerID: endpoint.issuerID,
                profileID: endpoint.profileID, validityDays: endpoint.validityDays, requestedBy: "scep:\(endpoint.name)",
                source: "scep", idempotencyKey: nil))
        } catch let error as IssuanceError {
            throw SCEPError("scep_issuance_refused_\(error.code)", .badRequest, error.description)
        }
        var serializer = DER.Serializer()
        try serializer.serialize(message.signerCertificate)
        let operation = Self.operation(message.messageType)
        let (held, created) = try await approvals.create(EnrollmentRequestRecord(
            protocolName: "scep", endpoint: endpoint.name, operation: operation, issuerID: endpoint.issuerID,
            profileID: endpoint.profileID, validityDays: endpoint.validityDays, transactionID: message.transactionID,
            senderNonce: message.senderNonce, csrDER: csrDER, csrSHA256: Array(SHA256.hash(data: csrDER)),
            subject: csr.subject.description, subjectAltNames: HeldRequests.requestedSANs(csr), requester: "scep:\(endpoint.name)",
            requesterCertificateDER: serializer.serializedBytes, remote: remote
        ), audit: AuditRecord(service: "enroll", actor: "scep:\(endpoint.name)", action: "enrollment_request.create", outcome: .success,
                              details: ["protocol": "scep", "endpoint": endpoint.name, "operation": operation,
                                        "transaction_id": message.transactionID, "subject": csr.subject.description, "remote": remote]
                                .merging(CertificateStanding.auditDetails(renewed: renewed)) { a, _ in a }))
        guard created else { return try await answer(held, to: message, csr: csr) }
        logger.notice("SCEP request held for approval", metadata: [
            "profile": "\(endpoint.name)", "request_id": "\(held.id.uuidString.lowercased())", "transaction_id": "\(message.transactionID)",
            "subject": "\(csr.subject)",
        ])
        return .pending
    }

    /// Whether a PKCSReq/RenewalReq asks again for `held` rather than for a new certificate: always while it
    /// is pending (micromdm's scepclient resends the identical message every 30 s; certmonger reuses the
    /// transactionID), and once decided for the identical message (same senderNonce) or a CSR for the same
    /// certificate (key, subject, SANs) in the same operation — certmonger's `getcert resubmit` — unless the
    /// certificate it got has since been revoked or has expired: then it is a new request.
    private func isResend(_ message: SCEPPKIMessage, csr: CertificateSigningRequest, of held: EnrollmentRequestRecord) async throws -> Bool {
        if held.status == .pending || held.senderNonce == message.senderNonce { return true }
        guard held.operation == Self.operation(message.messageType), let heldCSR = try? CertificateSigningRequest(derEncoded: held.csrDER),
              HeldRequests.sameCertificate(csr, heldCSR) else {
            return false
        }
        guard held.status == .issued else { return true }
        guard let id = held.certificateID, let record = try await certificates.get(id) else { return false }
        return record.status == "issued" && (record.notAfter ?? .distantPast) > Date()
    }

    /// The current state of a held request, for its requester only (same key as the message that created it):
    /// PENDING, the certificate once approved, FAILURE once rejected or failed.
    private func answer(_ held: EnrollmentRequestRecord, to message: SCEPPKIMessage, csr: CertificateSigningRequest?) async throws -> SCEPCertRep.Outcome {
        guard let der = held.requesterCertificateDER, let requester = try? Certificate(derEncoded: der),
              requester.publicKey == message.signerCertificate.publicKey else {
            throw SCEPError("scep_requester_mismatch", .badMessageCheck,
                            "transaction \(message.transactionID) belongs to another requester key")
        }
        if let csr, held.status == .pending,
           !((try? CertificateSigningRequest(derEncoded: held.csrDER)).map { HeldRequests.sameCertificate(csr, $0) } ?? false) {
            throw SCEPError("scep_transaction_conflict", .badRequest,
                            "another request with transactionID \(message.transactionID) is pending approval")
        }
        switch held.status {
        case .pending:
            return .pending
        case .issued:
            guard let id = held.certificateID, let record = try await certificates.get(id), let certificate = record.certificateDER else {
                throw SCEPError("scep_request_certificate_missing", .badRequest, "the certificate of request \(held.id.uuidString.lowercased()) cannot be read")
            }
            return Self.issued([try Certificate(derEncoded: certificate)], to: message)
        case .rejected:
            throw SCEPError("scep_request_rejected", .badRequest,
                            "request \(held.id.uuidString.lowercased()) was rejected by \(held.decidedBy ?? "an operator"): \(held.reason ?? "")")
        case .failed:
            throw SCEPError("scep_request_failed", .badRequest, "request \(held.id.uuidString.lowercased()) was approved but issuance failed: \(held.reason ?? "")")
        }
    }

    /// RFC 8894 §3.3.1.2 and issue #12 §4: a RenewalReq is signed by a current certificate of this issuer
    /// (issued, not revoked, not expired) that this endpoint issued or accepts, and keeps its subject and SANs.
    private func checkRenewal(_ current: Certificate, csr: CertificateSigningRequest, endpoint: SCEPEndpointRecord) async throws
        -> CertificateRecord {
        do {
            return try await CertificateStanding(issuers: issuers, certificates: certificates).renewable(
                current, csr: csr, issuerID: endpoint.issuerID, endpoint: EnrollmentEndpoint.scep(endpoint.name),
                accepts: endpoint.acceptRenewalsFrom)
        } catch let refusal as CertificateStanding.Refusal {
            let failInfo: SCEPFailInfo = switch refusal {
            case .wrongIssuer: .badMessageCheck
            case .unknown, .revoked, .expired: .badCertID
            case .otherEndpoint, .subjectMismatch, .sanMismatch: .badRequest
            }
            throw SCEPError("scep_renewal_\(refusal.code)", failInfo, "RenewalReq: \(refusal)")
        }
    }

    /// Counts and audits a refusal: in aggregate, one audit row per client address, code and minute
    /// (RefusalAggregator), so that a client retrying in a loop cannot grow the audit table without bound.
    func refuse(_ endpoint: SCEPEndpointRecord, _ message: SCEPPKIMessage?, _ error: SCEPError, remote: String) async {
        let operation = Self.operation(message?.messageType)
        metrics.count("scep", operation, error.code)
        logger.notice("SCEP request refused", metadata: [
            "profile": "\(endpoint.name)", "code": "\(error.code)", "reason": "\(error.message)",
            "transaction_id": "\(message?.transactionID ?? "-")", "remote": "\(remote)",
        ])
        var details = ["reason": error.message, "fail_info": error.failInfo.rawValue]
        if let message { details["transaction_id"] = message.transactionID }
        metrics.refusals.record(RefusalAggregator.Kind(
            proto: "scep", actor: "scep:\(endpoint.name)", action: "scep.enroll", code: error.code,
            targetType: "scep_profile", targetID: endpoint.name), source: remote, details: details)
    }
}
