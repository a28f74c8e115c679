import CertctlPKI
import CertctlStore
import Foundation
import Logging
import NIOCore
import Synchronization
import X509

/// What the HTTP layer gets for an issuer generation.
enum CRLLookup: Sendable {
    case found(PublishedCRL)
    case unknownIssuer
    /// An archived generation whose CA certificate has expired: nothing left to publish.
    case expired
    /// No CRL that is still valid can be served; retry later.
    case unavailable(String)
}

/// Serves each issuer generation's current CRL: from memory, else from
/// crl_cache (checked: it parses, names the generation's CA, carries a valid
/// signature and is not past nextUpdate), else generated live and written
/// back (the runbook's read-through path). A signer or database outage keeps
/// serving a CRL that is still valid.
final class CRLPublisher: Sendable {
    let store: CRLStore
    let generator: CRLGenerator
    let logger: Logger

    struct Key: Hashable, Sendable {
        let issuerID: String
        let generation: Int
    }

    /// The last valid CRL per issuer generation; `stale` once crl_cache
    /// changed, so the next request re-reads the row, but still good to serve
    /// in an outage.
    private let documents = Mutex<[Key: (document: PublishedCRL, stale: Bool)]>([:])
    /// Each issuer's active generation as last read (for the generation-less URL); dropped with the issuer's copies.
    private let active = Mutex<[String: Int]>([:])

    init(store: CRLStore, generator: CRLGenerator, logger: Logger) {
        self.store = store
        self.generator = generator
        self.logger = logger
    }

    /// `requested`: the generation the URL names; nil: the issuer's active one.
    func lookup(_ issuerID: String, generation requested: Int?) async -> CRLLookup {
        let known = requested ?? active.withLock { $0[issuerID] }
        let entry = known.flatMap { generation in documents.withLock { $0[Key(issuerID: issuerID, generation: generation)] } }
        let remembered = entry?.document
        if let entry, !entry.stale, entry.document.isCurrent() {
            return .found(entry.document)
        }
        let issuer: CRLIssuer
        do {
            guard let found = try await store.generation(issuerID, requested) else { return .unknownIssuer }
            issuer = found
            if requested == nil { active.withLock { $0[issuerID] = issuer.generation } }
            if issuer.isFinal, issuer.notAfter <= Date() { return .expired }
            if let cached = try await store.cached(issuerID, generation: issuer.generation),
               let document = validated(cached, issuer: issuer) {
                remember(document)
                CRLMetrics.loaded(from: "database")
                return .found(document)
            }
        } catch {
            logger.warning("CRL cache unreadable", metadata: ["issuer_id": "\(issuerID)", "error": "\(DatabaseErrorText.describe(error))"])
            if let remembered, remembered.isCurrent() { return .found(remembered) }
            return .unavailable("database unavailable")
        }
        // missing, corrupt or expired row: sign live, write back
        do {
            switch try await generator.generate(issuerID, generation: issuer.generation, trigger: .request) {
            case .generated(let document):
                remember(document)
                CRLMetrics.loaded(from: "live")
                return .found(document)
            case .upToDate:
                return .unavailable("no CRL generated")
            }
        } catch .unknownIssuer {
            return .unknownIssuer
        } catch {
            if let remembered, remembered.isCurrent() { return .found(remembered) }
            return .unavailable(error.description)
        }
    }

    /// Keeps a CRL this process generated, so requests need no database read.
    func remember(_ document: PublishedCRL) {
        let key = Key(issuerID: document.issuerID, generation: document.generation)
        documents.withLock { current in
            // never replace a newer CRL with an older one (replicas race)
            if let existing = current[key], Self.compare(existing.document.crlNumber, document.crlNumber) > 0 { return }
            current[key] = (document, false)
        }
    }

    /// crl_cache changed (a new CRL, an operator's DELETE/UPDATE) or a
    /// generation changed state: the next request reads the rows again.
    func forget(_ issuerID: String) {
        active.withLock { _ = $0.removeValue(forKey: issuerID) }
        documents.withLock { current in
            for key in current.keys where key.issuerID == issuerID { current[key]?.stale = true }
        }
    }

    func forgetAll() {
        active.withLock { $0.removeAll() }
        documents.withLock { current in
            for key in current.keys { current[key]?.stale = true }
        }
    }

    /// The cached row if it is a CRL this generation signed and still valid; nil if corrupt or expired.
    private func validated(_ cached: CachedCRL, issuer: CRLIssuer) -> PublishedCRL? {
        let now = Date()
        guard cached.nextUpdate > now, issuer.generation == cached.generation else { return nil }
        do {
            let fields = try CertificateListFields(derEncoded: cached.der)
            let certificate = try Certificate(derEncoded: issuer.certificateDER)
            guard fields.tbs.issuerNameDER == issuer.subjectDER, fields.isSigned(by: certificate, bytes: cached.der),
                  let next = fields.tbs.nextUpdate, next > now
            else { throw PKIError.malformedTBS("issuer, signature or nextUpdate do not match") }
            return PublishedCRL(issuerID: cached.issuerID, generation: cached.generation, der: ByteBuffer(bytes: cached.der),
                                crlNumber: cached.crlNumber, thisUpdate: fields.tbs.thisUpdate, nextUpdate: next,
                                revokedCount: fields.tbs.revokedCount)
        } catch {
            CRLMetrics.corruptCache()
            logger.error("cached CRL is corrupt; regenerating", metadata: [
                "issuer_id": "\(cached.issuerID)", "generation": "\(cached.generation)", "crl_number": "\(cached.crlNumber)",
                "error": "\(error)",
            ])
            return nil
        }
    }

    /// Orders decimal CRL numbers (no leading zeros): -1, 0, 1.
    static func compare(_ a: String, _ b: String) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }
}
