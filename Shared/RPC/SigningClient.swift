import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore

/// Why the signer did not return a signature.
public enum SigningClientError: Error, Equatable, CustomStringConvertible {
    /// The signer checked the request and refused it: `code` is a refusal code of docs/signer.md.
    case refused(code: String, message: String)
    /// The call did not complete (signer unreachable, timeout, transport): it may or may not have signed.
    case unavailable(String)

    public var description: String {
        switch self {
        case .refused(let code, let message): return "\(code): \(message)"
        case .unavailable(let text): return text
        }
    }
}

/// A leaf certificate to sign for a reserved certificate row.
public struct LeafSigningRequest: Sendable {
    public var issuerID: String
    public var issuerGeneration: Int
    /// DER TBSCertificate.
    public var tbs: [UInt8]
    public var profileID: String
    public var certificateID: UUID
    /// The API actor or device the request came from (audited beside the caller's verified identity).
    public var requestedBy: String

    public init(issuerID: String, issuerGeneration: Int, tbs: [UInt8], profileID: String, certificateID: UUID, requestedBy: String) {
        self.issuerID = issuerID
        self.issuerGeneration = issuerGeneration
        self.tbs = tbs
        self.profileID = profileID
        self.certificateID = certificateID
        self.requestedBy = requestedBy
    }
}

/// The one way a service asks certctl-signer for a signature: issuance, the
/// OCSP responder bootstrap, CRL generation and the signer benchmark all
/// call it, and get refusals back as typed errors.
public protocol SigningClient: Sendable {
    /// The complete DER certificate; the signer has stored it in the reserved row.
    /// `waitForReady: false` fails at once while the signer is unreachable
    /// instead of waiting up to `timeout` for it to come back.
    func signLeaf(_ request: LeafSigningRequest, timeout: Duration, waitForReady: Bool) async throws(SigningClientError) -> [UInt8]
    /// A delegated OCSP responder certificate (complete DER) for `generation` of `issuerID`.
    func signOCSPResponder(issuerID: String, generation: Int, tbs: [UInt8], timeout: Duration)
        async throws(SigningClientError) -> [UInt8]
    /// The signature over a TBSCertList (sent in pieces, never copied whole); the caller finishes the CRL.
    /// `coveredChangeSeq`: the revocation log change its entries were read up to. Fails at once while the
    /// signer is unreachable.
    func signCRL(issuerID: String, generation: Int, tbs: ByteBuffer, coveredChangeSeq: Int64, timeout: Duration)
        async throws(SigningClientError) -> [UInt8]
    /// The active generation and DER certificate of `issuerID`.
    func activeIssuer(_ issuerID: String) async throws(SigningClientError) -> (generation: Int, certificateDER: [UInt8])
}

/// `SigningClient` over gRPC with mutual TLS (`SignerConnection`).
public struct GRPCSigningClient: SigningClient {
    let rpc: SignerRPC.Client<HTTP2ClientTransport.Posix>

    public init(_ rpc: SignerRPC.Client<HTTP2ClientTransport.Posix>) {
        self.rpc = rpc
    }

    /// Piece size of SignCRLStream: small next to a large CRL, large enough that framing costs nothing.
    public static let crlPieceBytes = 1 << 20

    public func signLeaf(
        _ request: LeafSigningRequest, timeout: Duration, waitForReady: Bool
    ) async throws(SigningClientError) -> [UInt8] {
        var message = Certctl_Signer_V1_SignCertificateRequest()
        message.issuerID = request.issuerID
        message.issuerGeneration = UInt32(request.issuerGeneration)
        message.tbsCertificate = Data(request.tbs)
        message.purpose = .leaf
        message.profileID = request.profileID
        message.requestedBy = request.requestedBy
        message.certificateID = request.certificateID.uuidString.lowercased()
        return try await call(timeout: timeout, waitForReady: waitForReady) { options in
            Array(try await rpc.signCertificate(message, options: options).certificate)
        }
    }

    public func signOCSPResponder(
        issuerID: String, generation: Int, tbs: [UInt8], timeout: Duration
    ) async throws(SigningClientError) -> [UInt8] {
        var message = Certctl_Signer_V1_SignCertificateRequest()
        message.issuerID = issuerID
        message.issuerGeneration = UInt32(generation)
        message.tbsCertificate = Data(tbs)
        message.purpose = .ocspResponder
        message.requestedBy = "certctl-ocsp"
        return try await call(timeout: timeout, waitForReady: true) { options in
            Array(try await rpc.signCertificate(message, options: options).certificate)
        }
    }

    public func signCRL(
        issuerID: String, generation: Int, tbs: ByteBuffer, coveredChangeSeq: Int64, timeout: Duration
    ) async throws(SigningClientError) -> [UInt8] {
        try await call(timeout: timeout, waitForReady: false) { options in
            var options = options
            options.maxRequestMessageBytes = Self.crlPieceBytes + 4096
            options.maxResponseMessageBytes = 1 << 20
            let response = try await rpc.signCRLStream(options: options, requestProducer: { writer in
                var offset = 0
                repeat {
                    let length = min(Self.crlPieceBytes, tbs.readableBytes - offset)
                    var chunk = Certctl_Signer_V1_SignCRLChunk()
                    if offset == 0 {
                        chunk.issuerID = issuerID
                        chunk.issuerGeneration = UInt32(generation)
                        chunk.coveredChangeSeq = coveredChangeSeq
                    }
                    chunk.tbsPart = Data(tbs.readableBytesView[(tbs.readerIndex + offset)..<(tbs.readerIndex + offset + length)])
                    try await writer.write(chunk)
                    offset += length
                } while offset < tbs.readableBytes
            })
            return Array(response.signature)
        }
    }

    public func activeIssuer(_ issuerID: String) async throws(SigningClientError) -> (generation: Int, certificateDER: [UInt8]) {
        try await call(timeout: .seconds(10), waitForReady: true) { options in
            let response = try await rpc.getIssuer(.with { $0.issuerID = issuerID }, options: options)
            return (Int(response.issuerGeneration), Array(response.certificate))
        }
    }

    /// Runs one call; a refusal (its code in the trailing metadata) becomes `.refused`, anything else `.unavailable`.
    /// `waitForReady` rides out a signer restart within the timeout.
    func call<T: Sendable>(
        timeout: Duration, waitForReady: Bool, _ body: (CallOptions) async throws -> T
    ) async throws(SigningClientError) -> T {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = waitForReady
        do {
            return try await body(options)
        } catch let error as RPCError {
            if let code = RefusalTrailer.read(error) { throw .refused(code: code, message: error.message) }
            throw .unavailable("\(error.code): \(error.message)")
        } catch {
            throw .unavailable("\(error)")
        }
    }
}
