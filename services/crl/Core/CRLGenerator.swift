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

/// Builds the CRL of one issuer key generation: under its lock it numbers
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

    /// `requested`: the generation (nil: the issuer's active one).
    func generate(_ issuerID: String, generation requested: Int?, trigger: CRLTrigger) async throws(CRLGenerationError) -> Outcome {
        let started = Date()
        let clock = ContinuousClock.now
        var generation = requested
        do {
            guard let issuer = try await store.generation(issuerID, requested) else { throw CRLGenerationError.unknownIssuer(issuerID) }
            generation = issuer.generation
            let outcome = try await store.withGenerationLock(issuerID, generation: issuer.generation) { session in
                try await build(issuer, session: session, trigger: trigger, started: clock, startedAt: started)
            }
            let elapsed = ContinuousClock.now - clock
            switch outcome {
            case .generated(let crl):
                let milliseconds = elapsed.wholeMilliseconds
                CRLMetrics.generated(issuerID: issuerID, seconds: Double(milliseconds) / 1000, revokedCount: crl.revokedCount,
                                     at: Date().timeIntervalSince1970)
                logger.info(issuer.isFinal ? "final CRL published" : "CRL published", metadata: [
                    "issuer_id": "\(issuerID)", "generation": "\(issuer.generation)", "crl_number": "\(crl.crlNumber)", "revoked": "\(crl.revokedCount)",
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
                "issuer_id": "\(issuerID)", "generation": "\(generation.map(String.init) ?? "active")",
                "trigger": "\(trigger.rawValue)", "error": "\(failure)",
            ])
            throw failure
        }
    }

    private func build(
        _ issuer: CRLIssuer, session: CRLGenerationSession, trigger: CRLTrigger, started: ContinuousClock.Instant,
        startedAt: Date
    ) async throws -> Outcome {
        let start = try await session.start()
        guard Self.needsNewCRL(start, issuer: issuer, trigger: trigger, freshFor: freshFor, now: Date()) else {
            return .upToDate
        }
        var phases = CRLPhases(memory: logger.logLevel <= .debug)
        var encoded = try await encode(issuer, start: start, session: session)
        phases.mark("read_encode")
        // never wait for an unreachable signer while holding the issuer's lock (live requests queue
        // behind it); the loop retries a failed generation a few seconds later
        let signature = try await sign(encoded.unsigned, issuer: issuer, cut: start.latestChangeSeq,
                                       timeout: Self.signingTimeout(base: trigger == .request ? .seconds(10) : signerTimeout,
                                                                    entries: encoded.unsigned.revokedCount))
        phases.mark("sign")
        let revokedCount = encoded.unsigned.revokedCount
        let der = encoded.unsigned.signed(signatureAlgorithmDER: encoded.algorithm, signature: signature)
        phases.mark("finish")
        let crl = PublishedCRL(issuerID: issuer.issuerID, generation: issuer.generation, der: der, crlNumber: start.nextCRLNumber,
                               thisUpdate: encoded.thisUpdate, nextUpdate: encoded.nextUpdate, revokedCount: revokedCount)
        try await store(crl, issuer: issuer, start: start, session: session, trigger: trigger, started: started, startedAt: startedAt)
        phases.mark("store")
        logger.info("CRL phases", metadata: phases.metadata(issuerID: issuer.issuerID, revoked: revokedCount, bytes: der.readableBytes))
        return .generated(crl)
    }

    /// The signer reads and digests every entry itself before it signs (about 2 s per million on
    /// two shared cores, 10 s for five million), so a fixed deadline would fail every large CRL and
    /// retry it for ever: each attempt gets `base` plus 5 s per million entries.
    static func signingTimeout(base: Duration, entries: Int) -> Duration {
        base + .milliseconds(entries / 200)
    }

    /// Whether a generation must build: a request always does; a revocation or resync only when the cached
    /// CRL misses a change; a scheduled run also when the cached CRL is older than `freshFor`. An archived
    /// generation's final CRL (valid until its CA certificate expires) is built once.
    static func needsNewCRL(_ start: CRLGenerationSession.Start, issuer: CRLIssuer, trigger: CRLTrigger, freshFor: Duration,
                            now: Date) -> Bool {
        if issuer.isFinal {
            guard issuer.notAfter > now else { return false }  // the CA certificate expired: nothing to publish
            return (start.cachedNextUpdate ?? .distantPast) < issuer.notAfter.addingTimeInterval(-1)
        }
        let covered = start.cachedGeneration == issuer.generation && (start.cachedChangeSeq ?? -1) >= start.latestChangeSeq
        switch trigger {
        case .revocation, .resync:
            return !covered
        case .startup, .schedule:
            guard covered, let cachedAt = start.cachedThisUpdate else { return true }
            return now.timeIntervalSince(cachedAt) >= freshFor.seconds
        case .request:
            return true
        }
    }

    /// The TBSCertList, unsigned, with what signing and storing it need.
    struct Encoded: ~Copyable {
        var unsigned: UnsignedCRL
        let algorithm: [UInt8]
        let thisUpdate: Date
        let nextUpdate: Date
    }

    /// Streams the revocations (up to the start's change, in serial order, as the signer expects) into a TBSCertList.
    private func encode(_ issuer: CRLIssuer, start: CRLGenerationSession.Start, session: CRLGenerationSession) async throws -> Encoded {
        let algorithm: [UInt8]
        do {
            let certificate = try Certificate(derEncoded: issuer.certificateDER)
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
        // a final CRL stays valid as long as the CA certificate whose key signed it
        let nextUpdate = issuer.isFinal ? Int64(issuer.notAfter.timeIntervalSince1970.rounded(.down))
                                        : thisUpdate + Int64(validity.seconds)
        // Reserving for every entry up front keeps the buffer from doubling (and briefly existing twice) as it grows.
        var writer = try TBSCertListWriter(header: CRLHeader(
            signatureAlgorithmDER: algorithm, issuerNameDER: issuer.subjectDER, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
            crlNumber: number, authorityKeyIdentifier: issuer.subjectKeyID),
            expectedEntries: start.expectedEntriesUpperBound)
        // entries of certificates that expired before the last signed CRL were on it once more: drop them now
        try await session.revocations(expiredBefore: start.lastSignedThisUpdate, cut: start.latestChangeSeq) {
            serial, revokedAt, reason, invalidity in
            try writer.append(serialHex: serial, revokedAt: revokedAt, reasonCode: reason, invalidityDate: invalidity)
        }
        return Encoded(unsigned: writer.finish(), algorithm: algorithm,
                       thisUpdate: Date(timeIntervalSince1970: TimeInterval(thisUpdate)),
                       nextUpdate: Date(timeIntervalSince1970: TimeInterval(nextUpdate)))
    }

    /// crl_cache and the success event, in the generation's transaction.
    private func store(
        _ crl: PublishedCRL, issuer: CRLIssuer, start: CRLGenerationSession.Start, session: CRLGenerationSession,
        trigger: CRLTrigger, started: ContinuousClock.Instant, startedAt: Date
    ) async throws {
        try await session.store(
            der: crl.body, crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate,
            nextUpdate: crl.nextUpdate, durationMilliseconds: (ContinuousClock.now - started).wholeMilliseconds,
            revokedCount: crl.revokedCount, coveredChangeSeq: start.latestChangeSeq)
        try await session.record(CRLGenerationEvent(
            issuerID: issuer.issuerID, generation: issuer.generation, trigger: trigger.rawValue, startedAt: startedAt,
            succeeded: true, error: nil, durationMilliseconds: (ContinuousClock.now - started).wholeMilliseconds,
            revokedCount: crl.revokedCount, crlNumber: crl.crlNumber))
    }

    /// Has the signer sign the TBSCertList (a view of the writer's storage, sent in pieces, never copied whole).
    private func sign(
        _ unsigned: borrowing UnsignedCRL, issuer: CRLIssuer, cut: Int64, timeout: Duration
    ) async throws(CRLGenerationError) -> [UInt8] {
        do {
            return try await signer.signCRL(issuerID: issuer.issuerID, generation: issuer.generation, tbs: unsigned.tbs,
                                            coveredChangeSeq: cut, timeout: timeout)
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
        if let error = error as? CRLStoreError {
            switch error {
            case .unknownIssuer: return .unknownIssuer(error.description)
            case .entriesOutOfOrder: return .database(error.description)
            }
        }
        return .database(DatabaseErrorText.describe(error))
    }
}
