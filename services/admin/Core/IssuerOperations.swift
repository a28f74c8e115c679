import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import SwiftASN1
import X509

/// Creating issuers and rotating their keys: checked here, carried out by
/// certctl-signer (which makes and keeps every key). The REST routes and
/// `certctl-admin issuer …` both go through this.
package struct IssuerOperations: Sendable {
    let signer: any KeyGenerationClient
    let issuers: IssuerStore
    let generations: IssuerGenerationStore

    package init(signer: any KeyGenerationClient, issuers: IssuerStore, generations: IssuerGenerationStore) {
        self.signer = signer
        self.issuers = issuers
        self.generations = generations
    }

    /// A refusal with the code the API and CLI show.
    package struct Failure: Error, CustomStringConvertible {
        package enum Kind: Sendable { case invalid, notFound, conflict, unprocessable, signerUnavailable, signerFailed }
        package let kind: Kind
        package let code: String
        package let message: String
        package var description: String { "\(code): \(message)" }
    }

    /// A new issuer: its first generation, made by the signer.
    package func create(_ request: RotationRequest, displayName: String?) async throws -> GenerationResult {
        guard IssuerID.isValid(request.issuerID) else {
            throw Failure(kind: .invalid, code: "invalid_request", message: "id must match ^[a-z0-9][a-z0-9-]{0,62}$")
        }
        guard let subject = request.subject, !subject.isEmpty else {
            throw Failure(kind: .invalid, code: "invalid_request", message: "a new issuer needs a subject")
        }
        if try await exists(request.issuerID) {
            throw Failure(kind: .conflict, code: "issuer_exists", message: "issuer \(request.issuerID) already exists")
        }
        guard !request.crossCertificate else {
            throw Failure(kind: .invalid, code: "invalid_request", message: "a new issuer has no generation to cross-certify from")
        }
        let result = try await call { () async throws(SigningClientError) in try await signer.rotate(request) }
        if let displayName, !displayName.isEmpty {
            try await issuers.rename(request.issuerID, to: displayName)
        }
        return result
    }

    /// A rotation of an existing issuer.
    package func rotate(_ request: RotationRequest) async throws -> GenerationResult {
        guard try await exists(request.issuerID) else {
            throw Failure(kind: .notFound, code: "issuer_not_found", message: "issuer \(request.issuerID) does not exist")
        }
        return try await call { () async throws(SigningClientError) in try await signer.rotate(request) }
    }

    /// The certificate an external parent issued for a pending sub-CA generation (PEM, with its chain).
    package func install(issuerID: String, generation: Int, certificatePEM: String, chainPEM: String?, activateAt: Date?,
                         requestedBy: String) async throws -> GenerationResult {
        guard try await exists(issuerID) else {
            throw Failure(kind: .notFound, code: "issuer_not_found", message: "issuer \(issuerID) does not exist")
        }
        let certificate: [UInt8], chain: [[UInt8]]
        do {
            certificate = try Self.der(try Certificate(pemEncoded: certificatePEM))
            chain = try Self.certificates(inPEM: chainPEM ?? "").map(Self.der)
        } catch {
            throw Failure(kind: .invalid, code: "invalid_request",
                          message: "certificate_pem and chain_pem must hold PEM certificates (\(error))")
        }
        return try await call { () async throws(SigningClientError) in
            try await signer.installCertificate(issuerID: issuerID, generation: generation, certificateDER: certificate,
                                                chainDER: chain, activateAt: activateAt, requestedBy: requestedBy)
        }
    }

    private func exists(_ issuerID: String) async throws -> Bool {
        guard IssuerID.isValid(issuerID) else { return false }
        return !(try await generations.list(issuerID: issuerID).isEmpty)
    }

    private func call(_ body: () async throws(SigningClientError) -> GenerationResult) async throws -> GenerationResult {
        do {
            return try await body()
        } catch {
            switch error {
            case .unavailable(let text):
                throw Failure(kind: .signerUnavailable, code: "signer_unavailable", message: "the signer did not answer: \(text)")
            case .refused(let code, let message):
                switch code {
                case "rotation_invalid": throw Failure(kind: .invalid, code: code, message: message)
                case "issuer_not_found": throw Failure(kind: .notFound, code: code, message: message)
                case "rotation_pending", "generation_not_pending": throw Failure(kind: .conflict, code: code, message: message)
                case "key_storage_failed", "permission_denied": throw Failure(kind: .signerFailed, code: code, message: message)
                default: throw Failure(kind: .unprocessable, code: code, message: message)
                }
            }
        }
    }


    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    /// Every certificate in a PEM bundle, in order.
    static func certificates(inPEM text: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: text).map { try Certificate(pemDocument: $0) }
    }
}
