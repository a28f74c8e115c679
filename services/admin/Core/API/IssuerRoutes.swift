import CertctlIssuance
import CertctlPKI
import CertctlStore
import Foundation
import Hummingbird
import X509

/// `/api/v1/issuers`: the CAs this deployment signs with (public data).
struct IssuerRoutes: Sendable {
    let support: APISupport
    let issuers: IssuerStore
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
    }

    struct Items: Encodable { let items: [IssuerJSON] }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/issuers") { request, _ in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            return try APISupport.json(Items(items: try await issuers.list().map(json)))
        }
        router.get("/api/v1/issuers/:id") { request, context in
            _ = try await support.require(request, [.admin, .operator, .auditor])
            let id = context.parameters.get("id") ?? ""
            guard let issuer = try await issuers.get(id) else {
                throw APIError(.notFound, "issuer_not_found", "issuer \(id) does not exist")
            }
            return try APISupport.json(json(issuer))
        }
    }

    func json(_ issuer: IssuerRecord) -> IssuerJSON {
        let subject = (try? X509Subject.describe(issuer.certificateDER)) ?? ""
        return IssuerJSON(
            id: issuer.id, display_name: issuer.displayName, status: issuer.status, generation: issuer.generation,
            subject: subject, not_before: issuer.notBefore, not_after: issuer.notAfter,
            certificate_pem: PEM.certificate(issuer.certificateDER), key_algorithm: issuer.keyAlgorithm,
            allow_sub_ca: issuer.allowSubCA, ocsp_url: urls.ocsp(issuer.id), crl_url: urls.crl(issuer.id),
            ca_issuers_url: urls.caIssuers(issuer.id))
    }
}

/// The subject of a DER certificate, RFC 4514 style.
enum X509Subject {
    static func describe(_ der: [UInt8]) throws -> String {
        try Certificate(derEncoded: der).subject.description
    }
}
