import Foundation
import Logging
import PostgresNIO

/// A CA key generation as the OCSP tier matches CertIDs against it.
public struct OCSPIssuerGeneration: Sendable {
    public var issuerID: String
    public var generation: Int
    public var certificateDER: [UInt8]
    public var nameHashSHA1: [UInt8]
    public var keyHashSHA1: [UInt8]
    public var nameHashSHA256: [UInt8]
    public var keyHashSHA256: [UInt8]
}

/// What the database says about one serial of one issuer.
public struct OCSPCertificateState: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case good
        case revoked(at: Date, reason: Int)
        /// Reserved but never issued (pending or failed).
        case notIssued
    }

    public var generation: Int?
    public var status: Status
    /// certificate_revocations.change_seq of this serial (nil: never revoked).
    public var revocationSeq: Int64?
}

/// A pre-signed response row.
public struct OCSPStoredResponse: Sendable {
    public var issuerID: String
    public var serialHex: String
    public var hashAlgorithm: String
    public var generation: Int
    public var certStatus: String
    public var responseDER: [UInt8]
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var revocationSeq: Int64?

    public init(issuerID: String, serialHex: String, hashAlgorithm: String, generation: Int, certStatus: String,
                responseDER: [UInt8], thisUpdate: Date, nextUpdate: Date, revocationSeq: Int64?) {
        self.issuerID = issuerID
        self.serialHex = serialHex
        self.hashAlgorithm = hashAlgorithm
        self.generation = generation
        self.certStatus = certStatus
        self.responseDER = responseDER
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.revocationSeq = revocationSeq
    }
}

/// What certctl-ocsp reads and writes: issuer generations, certificate
/// status, the pre-signed response cache.
public struct OCSPStore: Sendable {
    let client: DatabaseClient
    let logger: Logger

    public init(client: DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func issuerGenerations() async throws -> [OCSPIssuerGeneration] {
        let rows = try await client.query("""
            SELECT g.issuer_id, g.generation, g.certificate_der, g.name_hash_sha1, g.key_hash_sha1,
                   g.name_hash_sha256, g.key_hash_sha256
            FROM issuer_generations g JOIN issuers i ON i.id = g.issuer_id
            -- archived generations have no unexpired certificates left to answer for
            WHERE g.status IN ('active', 'retired')
            ORDER BY g.issuer_id, g.generation
            """, logger: logger)
        var result: [OCSPIssuerGeneration] = []
        for try await (id, generation, der, n1, k1, n256, k256)
            in rows.decode((String, Int, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self) {
            result.append(OCSPIssuerGeneration(
                issuerID: id, generation: generation, certificateDER: Array(buffer: der),
                nameHashSHA1: Array(buffer: n1), keyHashSHA1: Array(buffer: k1),
                nameHashSHA256: Array(buffer: n256), keyHashSHA256: Array(buffer: k256)))
        }
        return result
    }

    /// The serial's state; nil when this issuer never reserved it.
    public func certificateState(issuerID: String, serialHex: String) async throws -> OCSPCertificateState? {
        let rows = try await client.query("""
            SELECT c.status, c.issuer_generation, r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
            FROM certificates c LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
            WHERE c.issuer_id = \(issuerID) AND c.serial_hex = \(serialHex)
            """, logger: logger)
        for try await (status, generation, reason, revokedAt, released, seq)
            in rows.decode((String, Int?, Int?, Date?, Bool?, Int64?).self) {
            let state: OCSPCertificateState.Status
            if let reason, let revokedAt, released == false {
                state = .revoked(at: revokedAt, reason: reason)
            } else if status == "issued" || status == "revoked" {
                state = .good
            } else {
                state = .notIssued
            }
            return OCSPCertificateState(generation: generation, status: state, revocationSeq: seq)
        }
        return nil
    }

    /// A pre-signed response that is still current: not past nextUpdate and
    /// built from the serial's current revocation state (change_seq).
    public func currentResponse(issuerID: String, serialHex: String, hashAlgorithm: String) async throws -> OCSPStoredResponse? {
        let rows = try await client.query("""
            SELECT o.issuer_generation, o.cert_status, o.response_der, o.this_update, o.next_update, o.revocation_seq
            FROM ocsp_response_cache o
            WHERE o.issuer_id = \(issuerID) AND o.serial_hex = \(serialHex) AND o.hash_algorithm = \(hashAlgorithm)
              AND o.next_update > now()
              AND o.revocation_seq IS NOT DISTINCT FROM (
                  SELECT r.change_seq FROM certificate_revocations r
                  WHERE r.issuer_id = o.issuer_id AND r.serial_hex = o.serial_hex)
            """, logger: logger)
        for try await (generation, status, der, thisUpdate, nextUpdate, seq)
            in rows.decode((Int, String, ByteBuffer, Date, Date, Int64?).self) {
            return OCSPStoredResponse(
                issuerID: issuerID, serialHex: serialHex, hashAlgorithm: hashAlgorithm, generation: generation,
                certStatus: status, responseDER: Array(buffer: der), thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                revocationSeq: seq)
        }
        return nil
    }

    /// Offers a freshly signed response as the serial's shared one: it is stored
    /// unless the row already holds a current answer (same generation, the serial's
    /// latest revocation change, more than `margin` before nextUpdate). Returns the
    /// row another replica stored first, or nil when `response` was stored. So every
    /// replica serves the same bytes, and an ETag from one is valid at all of them.
    public func shareResponse(_ r: OCSPStoredResponse, margin: TimeInterval) async throws -> OCSPStoredResponse? {
        let stored = try await client.query("""
            INSERT INTO ocsp_response_cache AS o (issuer_id, serial_hex, hash_algorithm, cert_status, response_der,
                this_update, next_update, produced_at, issuer_generation, revocation_seq)
            VALUES (\(r.issuerID), \(r.serialHex), \(r.hashAlgorithm), \(r.certStatus), \(ByteBuffer(bytes: r.responseDER)),
                \(r.thisUpdate), \(r.nextUpdate), now(), \(r.generation), \(r.revocationSeq))
            ON CONFLICT (issuer_id, serial_hex, hash_algorithm) DO UPDATE SET
                cert_status = EXCLUDED.cert_status, response_der = EXCLUDED.response_der,
                this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, produced_at = now(),
                issuer_generation = EXCLUDED.issuer_generation, revocation_seq = EXCLUDED.revocation_seq
            WHERE NOT (o.next_update > now() + make_interval(secs => \(margin))
                AND o.issuer_generation = EXCLUDED.issuer_generation
                AND o.revocation_seq IS NOT DISTINCT FROM (
                    SELECT c.change_seq FROM certificate_revocations c
                    WHERE c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex))
            RETURNING 1
            """, logger: logger)
        for try await _ in stored { return nil }
        // Another replica's current row won; a new statement sees it (READ COMMITTED).
        return try await currentResponse(issuerID: r.issuerID, serialHex: r.serialHex, hashAlgorithm: r.hashAlgorithm)
    }

    /// Highest revocation change_seq: a replica compares it across a LISTEN gap.
    public func revocationHighWater() async throws -> Int64 {
        let rows = try await client.query("SELECT COALESCE(MAX(change_seq), 0)::bigint FROM certificate_revocations", logger: logger)
        for try await value in rows.decode(Int64.self) { return value }
        return 0
    }

    /// Rows count of the pre-signed cache (metrics).
    public func storedResponseCount() async throws -> Int {
        let rows = try await client.query("SELECT count(*)::bigint FROM ocsp_response_cache", logger: logger)
        for try await value in rows.decode(Int64.self) { return Int(value) }
        return 0
    }
}
