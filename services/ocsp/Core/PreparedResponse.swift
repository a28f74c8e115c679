import CertctlConfig
import CertctlPKI
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// One encoded response ready to send, with what HTTP caching needs. Built
/// once per response, not per request: every reply shares `buffer`, and the
/// header fields are formatted again only when max-age changes (once a second).
struct PreparedResponse: Sendable {
    /// The response DER, as the ByteBuffer each reply sends (shared, never copied).
    /// Held once: a memory cache of 100,000 answers kept it twice (~800 B each).
    let buffer: ByteBuffer
    /// A copy of the DER (storing it, tests): not for the request path.
    var body: [UInt8] { Array(buffer.readableBytesView) }
    let thisUpdate: Date
    let nextUpdate: Date
    /// good, revoked or unknown (metrics).
    let status: String
    /// The certificate status it states (a nonce request for the serial is signed
    /// live with it instead of asking Postgres); nil for several CertIDs.
    let certStatus: OCSPCertStatus?
    /// Strong ETag: hex SHA-256 of the body.
    let etag: String
    let lastModified: String
    let expires: String
    private let headers: HeaderMemo

    init(body: [UInt8], thisUpdate: Date, nextUpdate: Date, status: String, certStatus: OCSPCertStatus?) {
        buffer = ByteBuffer(bytes: body)
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.status = status
        self.certStatus = certStatus
        etag = "\"" + Hex.string(SHA256.hash(data: body).prefix(16)) + "\""
        lastModified = HTTPDate.format(thisUpdate)
        expires = HTTPDate.format(nextUpdate)
        headers = HeaderMemo()
    }

    /// A stored response (a row of ocsp_response_cache): its certificate status is read back from its DER.
    init(stored row: OCSPStoredResponse) {
        let singles = (try? OCSPResponse(derEncoded: row.responseDER))?.responseData?.responses
        self.init(body: row.responseDER, thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate, status: row.certStatus,
                  certStatus: singles?.count == 1 ? singles?[0].certStatus : nil)
    }

    /// RFC 5019 §6 caching headers for a reply at `now`; Content-Length included
    /// (Hummingbird would otherwise add it to a copy of the fields).
    func headerFields(now: Date) -> HTTPFields {
        let maxAge = max(0, Int(nextUpdate.timeIntervalSince(now)))
        return headers.fields(maxAge: maxAge) {
            var fields = HTTPFields()
            fields.reserveCapacity(8)
            fields[.contentType] = OCSPRoutes.contentType
            fields[.contentLength] = String(buffer.readableBytes)
            fields[.cacheControl] = "max-age=\(maxAge), public, no-transform, must-revalidate"
            fields[.lastModified] = lastModified
            fields[.expires] = expires
            fields[.eTag] = etag
            return fields
        }
    }
}

/// The last header fields formatted for one response, valid for one max-age value.
private final class HeaderMemo: Sendable {
    private let last = Mutex<(maxAge: Int, fields: HTTPFields)?>(nil)

    func fields(maxAge: Int, build: () -> HTTPFields) -> HTTPFields {
        if let hit = last.withLock({ $0?.maxAge == maxAge ? $0?.fields : nil }) { return hit }
        let fields = build()
        last.withLock { $0 = (maxAge, fields) }
        return fields
    }
}
