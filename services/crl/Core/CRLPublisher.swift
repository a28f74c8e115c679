import CertctlPKI
import CertctlStore
import Foundation
import Logging
import NIOCore
import Synchronization
import X509

/// What the HTTP layer gets for an issuer.
enum CRLLookup: Sendable {
    case found(PublishedCRL)
    case unknownIssuer
    /// No CRL that is still valid can be served; retry later.
    case unavailable(String)
}

/// Serves each issuer's current CRL: from memory, else from crl_cache
/// (checked: it parses, names the issuer, carries a valid signature and is
/// not past nextUpdate), else generated live and written back (the
/// runbook's read-through path). A signer or database outage keeps serving a
/// CRL that is still valid.
final class CRLPublisher: Sendable {
    let store: CRLStore
    let generator: CRLGenerator
    let logger: Logger
    /// The last valid CRL per issuer; `stale` once crl_cache changed, so the
    /// next request re-reads the row, but still good to serve in an outage.
    private let documents = Mutex<[String: (document: PublishedCRL, stale: Bool)]>([:])

    init(store: CRLStore, generator: CRLGenerator, logger: Logger) {
        self.store = store
        self.generator = generator
        self.logger = logger
    }

    func lookup(_ issuerID: String) async -> CRLLookup {
        let entry = documents.withLock { $0[issuerID] }
        let remembered = entry?.document
        if let entry, !entry.stale, entry.document.isCurrent() {
            return .found(entry.document)
        }
        do {
            if let cached = try await store.cached(issuerID) {
                if let document = try await validated(cached) {
                    remember(document)
                    CRLMetrics.loaded(from: "database")
                    return .found(document)
                }
            } else if try await store.issuer(issuerID) == nil {
                return .unknownIssuer
            }
        } catch {
            logger.warning("CRL cache unreadable", metadata: ["issuer_id": "\(issuerID)", "error": "\(DatabaseErrorText.describe(error))"])
            if let remembered, remembered.isCurrent() { return .found(remembered) }
            return .unavailable("database unavailable")
        }
        // missing, corrupt or expired row: sign live, write back
        do {
            switch try await generator.generate(issuerID, trigger: .request) {
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
        documents.withLock { current in
            // never replace a newer CRL with an older one (replicas race)
            if let existing = current[document.issuerID], Self.compare(existing.document.crlNumber, document.crlNumber) > 0 { return }
            current[document.issuerID] = (document, false)
        }
    }

    /// crl_cache changed (a new CRL, or an operator's DELETE/UPDATE): the next request reads the row.
    func forget(_ issuerID: String) {
        documents.withLock { $0[issuerID]?.stale = true }
    }

    func forgetAll() {
        documents.withLock { current in
            for key in current.keys { current[key]?.stale = true }
        }
    }

    /// The cached row if it is a CRL this issuer signed and still valid; nil if corrupt or expired.
    private func validated(_ cached: CachedCRL) async throws -> PublishedCRL? {
        let now = Date()
        guard cached.nextUpdate > now else { return nil }
        guard let issuer = try await store.issuer(cached.issuerID), issuer.generation == cached.generation else { return nil }
        do {
            let fields = try CertificateListFields(derEncoded: cached.der)
            let certificate = try Certificate(derEncoded: issuer.certificateDER)
            guard fields.tbs.issuerNameDER == issuer.subjectDER, fields.isSigned(by: certificate, bytes: cached.der),
                  let next = fields.tbs.nextUpdate, next > now
            else { throw PKIError.malformedTBS("issuer, signature or nextUpdate do not match") }
            return PublishedCRL(issuerID: cached.issuerID, der: ByteBuffer(bytes: cached.der), crlNumber: cached.crlNumber,
                                thisUpdate: fields.tbs.thisUpdate, nextUpdate: next, revokedCount: fields.tbs.revokedCount)
        } catch {
            CRLMetrics.corruptCache()
            logger.error("cached CRL is corrupt; regenerating", metadata: [
                "issuer_id": "\(cached.issuerID)", "crl_number": "\(cached.crlNumber)", "error": "\(error)",
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
