import CertctlIssuance
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import Hummingbird
import X509

/// `/api/v1/issuers`: the CAs this deployment signs with and their key
/// generations; creating an issuer and rotating its key (admin), carried
/// out by certctl-signer.
struct IssuerRoutes: Sendable {
    let support: APISupport
    let issuers: IssuerStore
    let generations: IssuerGenerationStore
    let operations: IssuerOperations
    let urls: PublicationURLs

    struct IssuerJSON: Encodable {
        let id: String
        let display_name: String
        let status: String
        let generation: Int
        let subject: String
        let not_before: Date
        let not_after: Date
        let certificate_pem: String
        let key_algorithm: String
        let allow_sub_ca: Bool
        let ocsp_url: String
        let crl_url: String
        let ca_issuers_url: String
        let generations: [GenerationJSON]?
    }

    struct GenerationJSON: Encodable {
        let generation: Int
        let status: String
        let subject: String?
        let issuer: String?
        let key_algorithm: String
        let not_before: Date?
        let not_after: Date?
        let activate_at: Date?
        let activated_at: Date?
        let retired_at: Date?
        let archived_at: Date?
        let certificate_pem: String?
        let chain_pem: String?
        let csr_pem: String?
        let cross_certificate_pem: String?
        let crl_url: String
        let ca_issuers_url: String
        let last_crl_number: String
        let certificates: Counts

        struct Counts: Encodable {
            let total: Int
            let revoked: Int
            let unexpired: Int
            let last_not_after: Date?
        }
    }

    struct Items: Encodable { let items: [IssuerJSON] }

    struct CreateBody: Decodable {
        let id: String
        let display_name: String?
        let subject: String
        let key_algorithm: String?
        let validity_days: Int?
        let mode: String?
    }

    struct RotationBody: Decodable {
        let mode: String?
        let key_algorithm: String?
        let subject: String?
        let validity_days: Int?
        let activate_at: Date?
        let cross_certificate: Bool?
    }

    struct InstallBody: Decodable {
        let certificate_pem: String
        let chain_pem: String?
        let activate_at: Date?
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/issuers") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await issuers.list().map { json($0, generations: nil) }))
        }
        router.get("/api/v1/issuers/:id") { request, context in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            let id = context.parameters.get("id") ?? ""
            guard let issuer = try await issuers.get(id) else {
                throw APIError(.notFound, "issuer_not_found", "issuer \(id) does not exist")
            }
            return try APISupport.json(json(issuer, generations: try await generations.list(issuerID: id)))
        }
        router.post("/api/v1/issuers") { request, _ in
            let principal = try await support.require(request, [.admin])
            let body = try await APISupport.decode(CreateBody.self, from: request)
            let rotation = try Self.rotation(
                issuerID: body.id, mode: body.mode, keyAlgorithm: body.key_algorithm, subject: body.subject,
                validityDays: body.validity_days, activateAt: nil, crossCertificate: false, requestedBy: principal.actor)
            let result = try await perform { try await operations.create(rotation, displayName: body.display_name) }
            return try await generationResponse(body.id, result.generation, status: .created)
        }
        router.post("/api/v1/issuers/:id/rotations") { request, context in
            let principal = try await support.require(request, [.admin])
            let id = context.parameters.get("id") ?? ""
            let body = try await APISupport.decode(RotationBody.self, from: request)
            let rotation = try Self.rotation(
                issuerID: id, mode: body.mode, keyAlgorithm: body.key_algorithm, subject: body.subject,
                validityDays: body.validity_days, activateAt: body.activate_at, crossCertificate: body.cross_certificate ?? false,
                requestedBy: principal.actor)
            let result = try await perform { try await operations.rotate(rotation) }
            return try await generationResponse(id, result.generation, status: .created)
        }
        router.post("/api/v1/issuers/:id/generations/:generation/certificate") { request, context in
            let principal = try await support.require(request, [.admin])
            let id = context.parameters.get("id") ?? ""
            let body = try await APISupport.decode(InstallBody.self, from: request)
            guard let generation = context.parameters.get("generation").flatMap({ Int($0) }), generation >= 1 else {
                throw APIError(.notFound, "generation_not_found", "no such generation")
            }
            let result = try await perform {
                try await operations.install(issuerID: id, generation: generation, certificatePEM: body.certificate_pem,
                                             chainPEM: body.chain_pem, activateAt: body.activate_at, requestedBy: principal.actor)
            }
            return try await generationResponse(id, result.generation, status: .ok)
        }
    }

    static func rotation(
        issuerID: String, mode: String?, keyAlgorithm: String?, subject: String?, validityDays: Int?, activateAt: Date?,
        crossCertificate: Bool, requestedBy: String
    ) throws -> RotationRequest {
        var parsedMode: RotationRequest.Mode?
        if let mode {
            guard let known = RotationRequest.Mode(rawValue: mode) else {
                throw APIError(.badRequest, "invalid_request", "mode must be self-signed or sub-ca")
            }
            parsedMode = known
        }
        if let validityDays, !(1...18_250).contains(validityDays) {
            throw APIError(.badRequest, "invalid_request", "validity_days must be between 1 and 18250")
        }
        return RotationRequest(
            issuerID: issuerID, mode: parsedMode, keyAlgorithm: keyAlgorithm, subject: subject,
            validitySeconds: validityDays.map { Int64($0) * 86_400 }, activateAt: activateAt,
            crossCertificate: crossCertificate, requestedBy: requestedBy)
    }

    /// Maps the operations' typed failures to API errors.
    func perform(_ body: () async throws -> GenerationResult) async throws -> GenerationResult {
        do {
            return try await body()
        } catch let failure as IssuerOperations.Failure {
            switch failure.kind {
            case .invalid: throw APIError(.badRequest, failure.code, failure.message)
            case .notFound: throw APIError(.notFound, failure.code, failure.message)
            case .conflict: throw APIError(.conflict, failure.code, failure.message)
            case .unprocessable: throw APIError(.unprocessableContent, failure.code, failure.message)
            case .signerUnavailable: throw APIError.signerUnavailable(failure.message)
            case .signerFailed: throw APIError(.badGateway, failure.code, failure.message)
            }
        }
    }

    func generationResponse(_ issuerID: String, _ generation: Int, status: HTTPResponse.Status) async throws -> Response {
        guard let record = try await generations.list(issuerID: issuerID).first(where: { $0.generation == generation }) else {
            throw APIError(.notFound, "generation_not_found", "issuer \(issuerID) has no generation \(generation)")
        }
        return try APISupport.json(json(record), status: status)
    }

    func json(_ issuer: IssuerRecord, generations: [IssuerGeneration]?) -> IssuerJSON {
        let subject = (try? X509Subject.describe(issuer.certificateDER)) ?? ""
        return IssuerJSON(
            id: issuer.id, display_name: issuer.displayName, status: issuer.status, generation: issuer.generation,
            subject: subject, not_before: issuer.notBefore, not_after: issuer.notAfter,
            certificate_pem: PEM.certificate(issuer.certificateDER), key_algorithm: issuer.keyAlgorithm,
            allow_sub_ca: issuer.allowSubCA, ocsp_url: urls.ocsp(issuer.id),
            crl_url: urls.crl(issuer.id, generation: issuer.generation),
            ca_issuers_url: urls.caIssuers(issuer.id, generation: issuer.generation),
            generations: generations?.map(json))
    }

    func json(_ generation: IssuerGeneration) -> GenerationJSON {
        let certificate = generation.certificateDER.flatMap { try? Certificate(derEncoded: $0) }
        return GenerationJSON(
            generation: generation.generation, status: generation.status.rawValue, subject: certificate?.subject.description,
            issuer: certificate?.issuer.description, key_algorithm: generation.keyAlgorithm, not_before: generation.notBefore,
            not_after: generation.notAfter, activate_at: generation.activateAt, activated_at: generation.activatedAt,
            retired_at: generation.retiredAt, archived_at: generation.archivedAt,
            certificate_pem: generation.certificateDER.map(PEM.certificate),
            chain_pem: generation.chainDER.isEmpty ? nil : generation.chainDER.map(PEM.certificate).joined(),
            csr_pem: generation.status == .pending ? generation.csrDER.map(PEM.certificateRequest) : nil,
            cross_certificate_pem: generation.crossCertificateDER.map(PEM.certificate),
            crl_url: urls.crl(generation.issuerID, generation: generation.generation),
            ca_issuers_url: urls.caIssuers(generation.issuerID, generation: generation.generation),
            last_crl_number: generation.lastCRLNumber,
            certificates: .init(total: generation.certificates, revoked: generation.revoked, unexpired: generation.unexpired,
                                last_not_after: generation.lastCertificateNotAfter))
    }
}

/// The subject of a DER certificate, RFC 4514 style.
enum X509Subject {
    static func describe(_ der: [UInt8]) throws -> String {
        try Certificate(derEncoded: der).subject.description
    }
}
