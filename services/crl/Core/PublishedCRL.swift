import CertctlConfig
import Crypto
import Foundation
import NIOCore

/// A signed CRL ready to serve: the DER body (shared, never copied per
/// request) and the validators HTTP caching needs.
struct PublishedCRL: Sendable {
    let issuerID: String
    let generation: Int
    let body: ByteBuffer
    /// Strong validator: the SHA-256 of the DER, quoted.
    let etag: String
    let crlNumber: String
    let thisUpdate: Date
    let nextUpdate: Date
    let revokedCount: Int

    /// `der`'s readable bytes are the CRL; its storage is kept, not copied.
    init(issuerID: String, generation: Int, der: ByteBuffer, crlNumber: String, thisUpdate: Date, nextUpdate: Date, revokedCount: Int) {
        self.issuerID = issuerID
        self.generation = generation
        body = der
        etag = "\"" + Hex.string(SHA256.hash(data: der.readableBytesView)) + "\""
        self.crlNumber = crlNumber
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.revokedCount = revokedCount
    }

    func isCurrent(at now: Date = Date()) -> Bool { nextUpdate > now }
}
