import Foundation
import GRPCCore

/// How a rotation is to be carried out (`RotateIssuer`).
public struct RotationRequest: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case selfSigned = "self-signed"
        case subCA = "sub-ca"
    }

    public var issuerID: String
    /// nil: like the active generation (a root stays a root).
    public var mode: Mode?
    /// nil: the active generation's algorithm (ecdsa-p256 for a new issuer).
    public var keyAlgorithm: String?
    /// nil: the active generation's subject.
    public var subject: String?
    /// nil: ten years.
    public var validitySeconds: Int64?
    /// nil: as soon as the generation has its certificate.
    public var activateAt: Date?
    public var crossCertificate: Bool
    public var requestedBy: String

    public init(issuerID: String, mode: Mode?, keyAlgorithm: String?, subject: String?, validitySeconds: Int64?,
                activateAt: Date?, crossCertificate: Bool, requestedBy: String) {
        self.issuerID = issuerID
        self.mode = mode
        self.keyAlgorithm = keyAlgorithm
        self.subject = subject
        self.validitySeconds = validitySeconds
        self.activateAt = activateAt
        self.crossCertificate = crossCertificate
        self.requestedBy = requestedBy
    }
}

/// What the signer answers about a generation it made or certified.
public struct GenerationResult: Sendable {
    public var issuerID: String
    public var generation: Int
    public var status: String
    public var certificateDER: [UInt8]?
    public var csrDER: [UInt8]?
    public var crossCertificateDER: [UInt8]?
    public var activateAt: Date?
}

/// A CA key file as the signer sees it.
public struct KeyFileState: Sendable, Equatable {
    public var generation: Int
    public var path: String
    /// Empty when the file exists and only its owner may use it.
    public var problem: String
}

/// CA key rotation, carried out by certctl-signer (caller: admin only).
public protocol KeyGenerationClient: Sendable {
    /// The key files of every generation of `issuerID` the signer holds.
    func keyFiles(_ issuerID: String) async throws(SigningClientError) -> [KeyFileState]
    func rotate(_ request: RotationRequest) async throws(SigningClientError) -> GenerationResult
    func installCertificate(issuerID: String, generation: Int, certificateDER: [UInt8], chainDER: [[UInt8]], activateAt: Date?,
                            requestedBy: String) async throws(SigningClientError) -> GenerationResult
}

extension GRPCSigningClient: KeyGenerationClient {
    public func keyFiles(_ issuerID: String) async throws(SigningClientError) -> [KeyFileState] {
        try await call(timeout: .seconds(10), waitForReady: false) { options in
            let response = try await rpc.getIssuer(.with { $0.issuerID = issuerID }, options: options)
            return response.keyFiles.map {
                KeyFileState(generation: Int($0.issuerGeneration), path: $0.path, problem: $0.ownerOnly ? "" : $0.problem)
            }
        }
    }

    public func rotate(_ request: RotationRequest) async throws(SigningClientError) -> GenerationResult {
        var message = Certctl_Signer_V1_RotateIssuerRequest()
        message.issuerID = request.issuerID
        switch request.mode {
        case .selfSigned: message.mode = .selfSigned
        case .subCA: message.mode = .subCa
        case nil: message.mode = .unspecified
        }
        message.keyAlgorithm = request.keyAlgorithm ?? ""
        message.subject = request.subject ?? ""
        message.validitySeconds = request.validitySeconds ?? 0
        message.activateAt = request.activateAt.map { Int64($0.timeIntervalSince1970) } ?? 0
        message.crossCertificate = request.crossCertificate
        message.requestedBy = request.requestedBy
        // an RSA-4096 key takes seconds to make
        return try await call(timeout: .seconds(60), waitForReady: true) { options in
            Self.result(try await rpc.rotateIssuer(message, options: options))
        }
    }

    public func installCertificate(
        issuerID: String, generation: Int, certificateDER: [UInt8], chainDER: [[UInt8]], activateAt: Date?, requestedBy: String
    ) async throws(SigningClientError) -> GenerationResult {
        var message = Certctl_Signer_V1_InstallGenerationCertificateRequest()
        message.issuerID = issuerID
        message.issuerGeneration = UInt32(generation)
        message.certificate = Data(certificateDER)
        message.chain = chainDER.map { Data($0) }
        message.activateAt = activateAt.map { Int64($0.timeIntervalSince1970) } ?? 0
        message.requestedBy = requestedBy
        return try await call(timeout: .seconds(30), waitForReady: true) { options in
            Self.result(try await rpc.installGenerationCertificate(message, options: options))
        }
    }

    static func result(_ response: Certctl_Signer_V1_GenerationResponse) -> GenerationResult {
        GenerationResult(
            issuerID: response.issuerID, generation: Int(response.issuerGeneration), status: response.status,
            certificateDER: response.certificate.isEmpty ? nil : Array(response.certificate),
            csrDER: response.csr.isEmpty ? nil : Array(response.csr),
            crossCertificateDER: response.crossCertificate.isEmpty ? nil : Array(response.crossCertificate),
            activateAt: response.activateAt > 0 ? Date(timeIntervalSince1970: TimeInterval(response.activateAt)) : nil)
    }
}
