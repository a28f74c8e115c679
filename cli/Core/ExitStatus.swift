/// The process exit statuses of `certctl`, documented in docs/cli.md (keep both in step).
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    /// The API refused the request (400, 409, 422, 429, 5xx), or another failure.
    case failure = 1
    /// Bad command line (unknown option, missing argument, invalid value).
    case usage = 2
    /// No key, a wrong or revoked key (401), or a role that may not do this (403).
    case unauthenticated = 3
    /// The certificate, issuer, key, endpoint or request does not exist (404).
    case notFound = 4
    /// The server could not be reached: connection refused, DNS, TLS handshake, timeout.
    case unreachable = 5
    /// `ocsp check`: the responder says revoked.
    case revoked = 6
    /// `ocsp check`: the responder says unknown.
    case unknown = 7
    /// A signature or hash chain did not verify (OCSP response, CRL, audit chain).
    case verificationFailed = 8
    /// Bulk work finished, but some items were not done (not_found, invalid, failed).
    case partial = 9
}
