import CertctlConfig
import CertctlObservability
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import Logging
import X509

/// Why a generation ran (recorded in crl_generation_events.trigger).
enum CRLTrigger: String, Sendable {
    case startup, schedule, revocation, resync, request
}

enum CRLGenerationError: Error, CustomStringConvertible {
    case unknownIssuer(String)
    case unsupportedIssuer(String)
    case signerUnavailable(String)
    case signerRefused(String)
    case database(String)
    case encoding(String)

    var reason: String {
        switch self {
        case .unknownIssuer: return "unknown_issuer"
        case .unsupportedIssuer, .encoding: return "encoding"
        case .signerUnavailable: return "signer_unavailable"
        case .signerRefused: return "signer_refused"
        case .database: return "database"
        }
    }

    var description: String {
        switch self {
        case .unknownIssuer(let id): return "unknown issuer \(id)"
        case .unsupportedIssuer(let text): return "unsupported issuer: \(text)"
        case .signerUnavailable(let text): return "signer unavailable: \(text)"
        case .signerRefused(let text): return "signer refused: \(text)"
        case .database(let text): return "database: \(text)"
        case .encoding(let text): return "encoding: \(text)"
        }
    }
}

/// Builds one issuer's CRL: under the issuer's generation lock it numbers
/// the CRL, streams the revocations into a TBSCertList, has certctl-signer
/// sign it, stores it in crl_cache and records a crl_generation_events row.
/// This process never holds a CA key.
struct CRLGenerator: Sendable {
    let store: CRLStore
    let signer: any SigningClient
    let validity: Duration
    /// A scheduled run skips an issuer whose cached CRL is younger than this
    /// and covers every revocation (another replica just made it).
    let freshFor: Duration
    let signerTimeout: Duration
    let logger: Logger

    enum Outcome: Sendable {
        case generated(PublishedCRL)
        case upToDate
    }

    func generate(_ issuerID: String, trigger: CRLTrigger) async throws(CRLGenerationError) -> Outcome {
        let started = Date()
        let clock = ContinuousClock.now
        var generation: Int?
        do {
            guard let issuer = try await store.issuer(issuerID) else { throw CRLGenerationError.unknownIssuer(issuerID) }
            generation = issuer.generation
            let outcome = try await store.withGenerationLock(issuerID) { session in
                try await build(issuer, session: session, trigger: trigger, started: clock, startedAt: started)
            }
            let elapsed = ContinuousClock.now - clock
            switch outcome {
            case .generated(let crl):
                let milliseconds = elapsed.wholeMilliseconds
                CRLMetrics.generated(issuerID: issuerID, seconds: Double(milliseconds) / 1000, revokedCount: crl.revokedCount,
                                     at: Date().timeIntervalSince1970)
                logger.info("CRL published", metadata: [
                    "issuer_id": "\(issuerID)", "crl_number": "\(crl.crlNumber)", "revoked": "\(crl.revokedCount)",
                    "bytes": "\(crl.body.readableBytes)", "duration_ms": "\(milliseconds)", "trigger": "\(trigger.rawValue)",
                ])
            case .upToDate:
                CRLMetrics.skipped()
                logger.debug("CRL already current", metadata: ["issuer_id": "\(issuerID)", "trigger": "\(trigger.rawValue)"])
            }
            return outcome
        } catch {
            let failure = Self.classify(error)
            CRLMetrics.failed(reason: failure.reason)
            try? await store.record(CRLGenerationEvent(
                issuerID: issuerID, generation: generation, trigger: trigger.rawValue, startedAt: started, succeeded: false,
                error: failure.description, durationMilliseconds: (ContinuousClock.now - clock).wholeMilliseconds,
                revokedCount: nil, crlNumber: nil))
            logger.warning("CRL generation failed", metadata: [
                "issuer_id": "\(issuerID)", "trigger": "\(trigger.rawValue)", "error": "\(failure)",
            ])
            throw failure
        }
    }

    private func build(
        _ issuer: CRLIssuer, session: CRLGenerationSession, trigger: CRLTrigger, started: ContinuousClock.Instant,
        startedAt: Date
    ) async throws -> Outcome {
        let start = try await session.start()
        let sameGeneration = start.cachedGeneration == issuer.generation
        let covered = sameGeneration && (start.cachedChangeSeq ?? -1) >= start.latestChangeSeq
        switch trigger {
        case .revocation, .resync:
            if covered { return .upToDate }
        case .startup, .schedule:
            if covered, let cachedAt = start.cachedThisUpdate, Date().timeIntervalSince(cachedAt) < freshFor.seconds {
                return .upToDate
            }
        case .request:
            break
        }

        let certificate: Certificate
        let algorithm: [UInt8]
        do {
            certificate = try Certificate(derEncoded: issuer.certificateDER)
            guard let key = KeyAlgorithm(certificate.publicKey) else {
                throw CRLGenerationError.unsupportedIssuer(KeyAlgorithm.describeUnsupported(certificate.publicKey))
            }
            algorithm = try SignatureAlgorithmIdentifier.der(key.signatureAlgorithm)
        } catch let error as CRLGenerationError {
            throw error
        } catch {
            throw CRLGenerationError.unsupportedIssuer("\(error)")
        }
        guard let number = DERWriter.magnitude(decimal: start.nextCRLNumber) else {
            throw CRLGenerationError.encoding("CRL number \(start.nextCRLNumber) is not decimal")
        }
        let thisUpdate = Int64(Date().timeIntervalSince1970)
        let nextUpdate = thisUpdate + Int64(validity.seconds)
        // Reserving for every entry up front keeps the buffer from doubling (and briefly existing twice) as it grows.
        var writer = try TBSCertListWriter(header: CRLHeader(
            signatureAlgorithmDER: algorithm, issuerNameDER: issuer.subjectDER, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
            crlNumber: number, authorityKeyIdentifier: issuer.subjectKeyID),
            expectedEntries: start.expectedEntriesUpperBound)
        // entries of certificates that expired before the previous CRL were on it once more: drop them now
        let expiredBefore = sameGeneration ? start.cachedThisUpdate : nil
        let readStarted = ContinuousClock.now
        let memoryStart = ProcessMemory.text
        try await session.revocations(expiredBefore: expiredBefore) { serial, revokedAt, reason, invalidity in
            try writer.append(serialHex: serial, revokedAt: revokedAt, reasonCode: reason, invalidityDate: invalidity)
        }
        let memoryRead = ProcessMemory.text
        var unsigned = writer.finish()
        let signStarted = ContinuousClock.now
        let memoryEncoded = ProcessMemory.text
        // never wait for an unreachable signer while holding the issuer's lock (live requests queue
        // behind it); the loop retries a failed generation a few seconds later
        let signature = try await sign(unsigned, issuer: issuer, timeout: trigger == .request ? .seconds(10) : signerTimeout)
        let revokedCount = unsigned.revokedCount
        let memorySigned = ProcessMemory.text
        let der = unsigned.signed(signatureAlgorithmDER: algorithm, signature: signature)
        let memoryFinished = ProcessMemory.text
        let storeStarted = ContinuousClock.now
        let thisDate = Date(timeIntervalSince1970: TimeInterval(thisUpdate))
        let nextDate = Date(timeIntervalSince1970: TimeInterval(nextUpdate))
        try await session.store(
            generation: issuer.generation, der: der, crlNumber: start.nextCRLNumber, thisUpdate: thisDate, nextUpdate: nextDate,
            durationMilliseconds: (ContinuousClock.now - started).wholeMilliseconds, revokedCount: revokedCount,
            coveredChangeSeq: start.latestChangeSeq)
        try await session.record(CRLGenerationEvent(
            issuerID: issuer.issuerID, generation: issuer.generation, trigger: trigger.rawValue, startedAt: startedAt,
            succeeded: true, error: nil, durationMilliseconds: (ContinuousClock.now - started).wholeMilliseconds,
            revokedCount: revokedCount, crlNumber: start.nextCRLNumber))
        logger.info("CRL phases", metadata: [
            "issuer_id": "\(issuer.issuerID)", "revoked": "\(revokedCount)", "bytes": "\(der.readableBytes)",
            "read_encode_ms": "\((signStarted - readStarted).wholeMilliseconds)",
            "sign_ms": "\((storeStarted - signStarted).wholeMilliseconds)",
            "store_ms": "\((ContinuousClock.now - storeStarted).wholeMilliseconds)",
            // resident/peak MiB after each phase: where a large CRL's memory goes
            "rss_mib_start": "\(memoryStart)", "rss_mib_read": "\(memoryRead)", "rss_mib_encoded": "\(memoryEncoded)", "rss_mib_signed": "\(memorySigned)",
            "rss_mib_finished": "\(memoryFinished)", "rss_mib_stored": "\(ProcessMemory.text)",
        ])
        return .generated(PublishedCRL(issuerID: issuer.issuerID, der: der, crlNumber: start.nextCRLNumber,
                                       thisUpdate: thisDate, nextUpdate: nextDate, revokedCount: revokedCount))
    }

    /// Has the signer sign the TBSCertList (a view of the writer's storage, sent in pieces, never copied whole).
    private func sign(
        _ unsigned: borrowing UnsignedCRL, issuer: CRLIssuer, timeout: Duration
    ) async throws(CRLGenerationError) -> [UInt8] {
        do {
            return try await signer.signCRL(issuerID: issuer.issuerID, generation: issuer.generation, tbs: unsigned.tbs, timeout: timeout)
        } catch {
            switch error {
            case .refused(let code, let message): throw .signerRefused("\(code): \(message)")
            case .unavailable(let text): throw .signerUnavailable(text)
            }
        }
    }

    static func classify(_ error: any Error) -> CRLGenerationError {
        if let error = error as? CRLGenerationError { return error }
        if let error = error as? PKIError { return .encoding(error.description) }
        if let error = error as? CRLStoreError { return .unknownIssuer(error.description) }
        return .database(DatabaseErrorText.describe(error))
    }
}
