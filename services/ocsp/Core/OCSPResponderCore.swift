import CertctlPKI
import CertctlRuntime
import CertctlStore
import Foundation
import Logging
import Metrics
import Synchronization

/// What the HTTP layer sends back.
package struct OCSPAnswer: Sendable {
    /// The DER of an answer sent once (an error, a nonce answer); empty when `prepared` holds it.
    private var once: [UInt8]
    /// Present when HTTP caching headers apply (no nonce, successful).
    var prepared: PreparedResponse?
    package var status: OCSPResponseStatus
    /// Whether HTTP caching headers apply (no nonce, successful).
    package var isCacheable: Bool { prepared != nil }
    /// The response DER (a copy for a prepared answer: the HTTP layer sends `prepared.buffer` instead).
    package var body: [UInt8] { prepared?.body ?? once }

    init(body: [UInt8], status: OCSPResponseStatus) {
        once = body
        prepared = nil
        self.status = status
    }

    init(prepared: PreparedResponse) {
        once = []
        self.prepared = prepared
        status = .successful
    }

    static func error(_ status: OCSPResponseStatus) -> OCSPAnswer {
        Metric.outcome(Self.outcome(status))
        return OCSPAnswer(body: OCSPResponse.error(status), status: status)
    }

    static func outcome(_ status: OCSPResponseStatus) -> Metric.Outcome {
        switch status {
        case .malformedRequest: return .malformed
        case .unauthorized: return .unauthorized
        case .tryLater: return .tryLater
        case .internalError: return .internalError
        case .sigRequired: return .sigRequired
        case .successful: return .successful
        }
    }
}

/// The responder: request → issuer generation → memory cache → pre-signed
/// row → live signature (written back). See docs/crl-ocsp.md "## OCSP".
package final class OCSPResponderCore: Sendable {
    let directory: IssuerDirectory
    let responders: ResponderManager
    let store: OCSPStore
    let cache: ResponseCache
    let validity: TimeInterval
    let margin: TimeInterval
    let logger: Logger
    /// True while LISTEN is subscribed: only then may memory answer without asking Postgres
    /// (on a standby: while the revocation poller keeps up, see StandbyState).
    let listening = Atomic<Bool>(false)
    let standby: StandbyState
    /// `unknown` answers are valid this long at most, and never stored.
    static let unknownValidity: TimeInterval = 300

    init(directory: IssuerDirectory, responders: ResponderManager, store: OCSPStore, cache: ResponseCache,
         validity: Duration, margin: Duration, logger: Logger, standby: StandbyState = StandbyState()) {
        self.directory = directory
        self.standby = standby
        self.responders = responders
        self.store = store
        self.cache = cache
        self.validity = TimeInterval(validity.components.seconds)
        self.margin = TimeInterval(margin.components.seconds)
        self.logger = logger
    }

    package func answer(issuerID: String, der: [UInt8]) async -> OCSPAnswer {
        let request: OCSPRequest
        do {
            request = try OCSPRequest.parse(der)
        } catch {
            logger.debug("malformed OCSP request", metadata: ["issuer_id": "\(issuerID)", "reason": "\(error)"])
            return .error(.malformedRequest)
        }
        return await answer(issuerID: issuerID, request: request)
    }

    /// certctl's `GET …/{issuer_id}/{serial_hex}`: a SHA-1 CertID for the
    /// serial under the generation that issued it (the newest if unknown).
    package func answer(issuerID: String, serialText: String) async -> OCSPAnswer {
        guard let generations = try? await directory.generations(issuerID), let newest = generations.last else {
            return .error(.unauthorized)
        }
        let serialHex = SerialNumber.canonicalize(serialText)
        var generation = newest
        if let serialHex, let state = try? await store.certificateState(issuerID: issuerID, serialHex: serialHex),
           let g = state.generation, let match = generations.first(where: { $0.generation == g }) {
            generation = match
        }
        let hashes = generation.hashes[.sha1]!
        let serial = serialHex.map { Array(SerialNumber.derBytes(fromCanonicalHex: $0).drop { $0 == 0 }) } ?? [0]
        let id = OCSPCertID(hashAlgorithm: .sha1, issuerNameHash: hashes.name, issuerKeyHash: hashes.key,
                            serialNumber: serial.isEmpty ? [0] : serial)
        return await answer(issuerID: issuerID, request: OCSPRequest(certIDs: [id]))
    }

    func answer(issuerID: String, request: OCSPRequest) async -> OCSPAnswer {
        let generations: [IssuerDirectory.Generation]
        do {
            generations = try await directory.generations(issuerID)
        } catch {
            logger.warning("cannot load issuers", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
            return .error(.tryLater)
        }
        var matches = request.certIDs.map { IssuerDirectory.match($0, in: generations) }
        if matches.allSatisfy({ $0 == nil }), let reloaded = try? await directory.generations(issuerID, missing: true) {
            matches = request.certIDs.map { IssuerDirectory.match($0, in: reloaded) }
        }
        // No CertID names this issuer (or the issuer is unknown): not ours to answer.
        guard let generation = matches.compactMap({ $0 }).first else { return .error(.unauthorized) }
        if request.certIDs.count == 1, let serialHex = request.certIDs[0].serialHex {
            guard let nonce = request.nonce else {
                return await cached(request.certIDs[0], serialHex: serialHex, generation: generation)
            }
            return await nonceAnswer(request.certIDs[0], serialHex: serialHex, generation: generation, nonce: nonce)
        }
        do {
            var singles: [(OCSPCertID, OCSPCertStatus)] = []
            for (id, match) in zip(request.certIDs, matches) {
                guard match?.generation == generation.generation, let serialHex = id.serialHex else {
                    singles.append((id, .unknown))
                    continue
                }
                let state = try await store.certificateState(issuerID: issuerID, serialHex: serialHex)
                singles.append((id, Self.status(state, generation: generation.generation)))
            }
            Metric.source(.liveSigned)
            for (_, status) in singles { Metric.outcome(Metric.Outcome(status: status.name)) }
            guard let nonce = request.nonce else {
                let prepared = try await sign(singles, generation: generation, nonce: nil)
                return OCSPAnswer(prepared: prepared)
            }
            return OCSPAnswer(body: try await signLive(singles, generation: generation, nonce: nonce), status: .successful)
        } catch {
            return failure(error, issuerID: issuerID)
        }
    }

    /// One CertID with a nonce: signed live, never cached. The status comes from
    /// the serial's memory answer when there is one (kept as current as any cached
    /// answer: NOTIFY evicts it), else from its shared answer (below), which is then
    /// kept in memory, so the serial's next requests need no database read.
    private func nonceAnswer(_ id: OCSPCertID, serialHex: String, generation: IssuerDirectory.Generation,
                             nonce: [UInt8]) async -> OCSPAnswer {
        let key = CacheKey(issuerID: generation.issuerID, generation: generation.generation, serialHex: serialHex,
                           hashAlgorithm: id.hashAlgorithm)
        let now = Date()
        do {
            let status: OCSPCertStatus
            if let hit = current(key, now: now), let known = hit.certStatus {
                status = known
            } else {
                let epoch = cache.epoch
                let (shared, _) = try await sharedAnswer(id, serialHex: serialHex, generation: generation, now: now)
                status = shared.certStatus ?? .unknown
                if status != .unknown { cache.insert(key, shared, ifEpoch: epoch) }
            }
            let body = try await signLive([(id, status)], generation: generation, nonce: nonce, now: now)
            Metric.source(.liveSigned)
            Metric.outcome(Metric.Outcome(status: status.name))
            return OCSPAnswer(body: body, status: .successful)
        } catch {
            return failure(error, issuerID: generation.issuerID)
        }
    }

    /// One CertID, no nonce: memory, then the shared answer.
    private func cached(_ id: OCSPCertID, serialHex: String, generation: IssuerDirectory.Generation) async -> OCSPAnswer {
        let key = CacheKey(issuerID: generation.issuerID, generation: generation.generation, serialHex: serialHex,
                           hashAlgorithm: id.hashAlgorithm)
        let now = Date()
        if let hit = current(key, now: now) {
            return served(hit, source: .memory, now: now)
        }
        let epoch = cache.epoch
        do {
            let (prepared, source) = try await sharedAnswer(id, serialHex: serialHex, generation: generation, now: now)
            if prepared.certStatus.map({ $0 != .unknown }) == true { cache.insert(key, prepared, ifEpoch: epoch) }
            return served(prepared, source: source, now: now)
        } catch {
            // Postgres unreachable: a cached answer (also one stored before the last LISTEN
            // resync) is still valid until its nextUpdate.
            if let hit = cache.fallback(key), hit.nextUpdate > now {
                return served(hit, source: .memoryDatabaseDown, now: now)
            }
            return failure(error, issuerID: generation.issuerID)
        }
    }

    /// The no-nonce answer every replica serves for a serial: the current pre-signed
    /// row, else one signed now and offered to Postgres, where the first replica to
    /// store a current answer wins and the others serve that one. Same bytes on every
    /// replica, so an ETag from one is good at all of them (a balancer or CDN in front).
    /// `unknown` answers are signed per request and never stored.
    private func sharedAnswer(_ id: OCSPCertID, serialHex: String, generation: IssuerDirectory.Generation,
                              now: Date) async throws -> (PreparedResponse, Metric.Source) {
        if let row = try await store.currentResponse(issuerID: generation.issuerID, serialHex: serialHex,
                                                     hashAlgorithm: id.hashAlgorithm.rawValue),
           row.generation == generation.generation, row.nextUpdate.timeIntervalSince(now) > margin {
            return (PreparedResponse(stored: row), .database)
        }
        let state = try await store.certificateState(issuerID: generation.issuerID, serialHex: serialHex)
        let status = Self.status(state, generation: generation.generation)
        let prepared = try await sign([(id, status)], generation: generation, nonce: nil, now: now)
        // a standby refuses writes: this replica serves its own answer (docs/scaling.md)
        guard status != .unknown, !standby.role.isStandby else { return (prepared, .liveSigned) }
        do {
            let winner = try await store.shareResponse(OCSPStoredResponse(
                issuerID: generation.issuerID, serialHex: serialHex, hashAlgorithm: id.hashAlgorithm.rawValue,
                generation: generation.generation, certStatus: status.name, responseDER: prepared.body,
                thisUpdate: prepared.thisUpdate, nextUpdate: prepared.nextUpdate, revocationSeq: state?.revocationSeq),
                margin: margin)
            if let winner, winner.generation == generation.generation { return (PreparedResponse(stored: winner), .database) }
        } catch where DatabaseErrorText.isReadOnly(error) {
            // a standby the role probe has not noticed yet (or a read-only primary): expected, not worth a warning
            logger.debug("OCSP response not stored: database is read-only", metadata: ["serial": "\(serialHex)"])
        } catch {
            // Still a valid answer; only other replicas' bytes may differ until the next refresh.
            logger.warning("could not store OCSP response", metadata: ["serial": "\(serialHex)", "error": "\(DatabaseErrorText.describe(error))"])
        }
        return (prepared, .liveSigned)
    }

    /// The memory answer for `key`, if memory may answer (LISTEN is up, or on a standby the poller
    /// keeps up) and it is not due for refresh.
    private func current(_ key: CacheKey, now: Date) -> PreparedResponse? {
        guard listening.load(ordering: .acquiring) || standby.memoryMayAnswer, let hit = cache.get(key), hit.nextUpdate.timeIntervalSince(now) > margin else {
            return nil
        }
        return hit
    }

    private func served(_ prepared: PreparedResponse, source: Metric.Source, now: Date) -> OCSPAnswer {
        Metric.source(source)
        Metric.outcome(Metric.Outcome(status: prepared.status))
        Metric.responseAge.record(now.timeIntervalSince(prepared.thisUpdate))
        return OCSPAnswer(prepared: prepared)
    }

    private func failure(_ error: any Error, issuerID: String) -> OCSPAnswer {
        switch error {
        case ResponderError.signerUnavailable:
            logger.warning("OCSP answer deferred: signer unavailable", metadata: ["issuer_id": "\(issuerID)", "error": "\(error)"])
            return .error(.tryLater)
        case is ResponderError:
            // An OCSP error has no room for text: the incident line, like every other service's, is what
            // an operator searches for; its detail (key file paths) never reaches the client.
            _ = Incident.record("OCSP responder unusable", kind: .internalError, detail: "\(error)",
                                metadata: ["issuer_id": "\(issuerID)"], logger: logger)
            return .error(.internalError)
        default:
            logger.warning("OCSP answer deferred: database unavailable", metadata: [
                "issuer_id": "\(issuerID)", "error": "\(DatabaseErrorText.describe(error))",
            ])
            return .error(.tryLater)
        }
    }

    /// Signs live with this replica's responder for the generation.
    func sign(_ singles: [(OCSPCertID, OCSPCertStatus)], generation: IssuerDirectory.Generation, nonce: [UInt8]?,
              now: Date = Date()) async throws -> PreparedResponse {
        let (body, thisUpdate, nextUpdate) = try await signed(singles, generation: generation, nonce: nonce, now: now)
        return PreparedResponse(body: body, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                                status: singles.count == 1 ? singles[0].1.name : "multiple",
                                certStatus: singles.count == 1 ? singles[0].1 : nil)
    }

    /// As `sign`, for an answer sent once (a nonce): just the DER, no HTTP caching headers.
    func signLive(_ singles: [(OCSPCertID, OCSPCertStatus)], generation: IssuerDirectory.Generation, nonce: [UInt8],
                  now: Date = Date()) async throws -> [UInt8] {
        try await signed(singles, generation: generation, nonce: nonce, now: now).body
    }

    private func signed(_ singles: [(OCSPCertID, OCSPCertStatus)], generation: IssuerDirectory.Generation, nonce: [UInt8]?,
                        now: Date) async throws -> (body: [UInt8], thisUpdate: Date, nextUpdate: Date) {
        let responder = try await responders.identity(for: generation)
        let thisUpdate = now.wholeSeconds
        let allUnknown = singles.allSatisfy { $0.1 == .unknown }
        let nextUpdate = min(thisUpdate.addingTimeInterval(allUnknown ? min(validity, Self.unknownValidity) : validity),
                             responder.notAfter).wholeSeconds
        let responses = singles.map {
            OCSPSingleResponse(certID: $0.0, certStatus: $0.1, thisUpdate: thisUpdate, nextUpdate: nextUpdate)
        }
        return (try responder.sign(responses, producedAt: now, nonce: nonce), thisUpdate, nextUpdate)
    }

    static func status(_ state: OCSPCertificateState?, generation: Int) -> OCSPCertStatus {
        guard let state, state.generation == generation else { return .unknown }
        switch state.status {
        case .good: return .good
        case .revoked(let at, let reason): return .revoked(time: at.wholeSeconds, reason: reason == 0 ? nil : reason)
        case .notIssued: return .unknown
        }
    }
}
