import ArgumentParser
import CertctlPKI
import Foundation
import X509

/// `certctl ocsp check`: asks the certificate's OCSP responder, as a relying party would.
struct OCSPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocsp", abstract: "Check a certificate's revocation status over OCSP.", subcommands: [OCSPCheck.self])
}

struct OCSPCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Query the OCSP responder in the certificate's AIA and verify the signed answer.",
        discussion: "Exit status: 0 good, 6 revoked, 7 unknown, 8 the response does not verify.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Certificate file (PEM or DER).", completion: .file()) var certificate: String
    @Option(help: "Issuer id (default: looked up by the certificate's serial through the admin API).") var issuer: String?
    @Option(name: .customLong("issuer-cert"), help: "Issuer certificate file: no admin API needed.", completion: .file())
    var issuerCert: String?
    @Option(name: .customLong("ocsp-url"), help: "Responder URL (default: the certificate's AIA).") var ocspURL: String?
    @Option(help: "CertID hash: sha1 (RFC 5019) or sha256.") var hash: String = "sha1"

    func validate() throws {
        guard OCSPHashAlgorithm(rawValue: hash) != nil else { throw ValidationError("--hash must be sha1, sha256, sha384 or sha512") }
        guard issuer == nil || issuerCert == nil else { throw ValidationError("give --issuer or --issuer-cert, not both") }
    }

    func run() async throws {
        guard let leaf = try PEMCertificates.read(certificate).first else { throw CLIError.file(certificate, "holds no certificate") }
        let issuerCertificate = try await findIssuer(of: leaf)
        guard let url = ocspURL ?? OCSPVerification.responderURL(leaf) else {
            throw CLIError.usage("\(certificate) names no OCSP responder (no AIA OCSP URL): give --ocsp-url")
        }
        let check = try OCSPVerification(leaf: leaf, issuer: issuerCertificate, hash: OCSPHashAlgorithm(rawValue: hash)!)
        let http = HTTPClient(caFile: global.cacert, timeoutSeconds: global.timeout, maxBodyBytes: 1 << 20)
        let result = try await http.send(.POST, try RequestURL(url), headers: [("Content-Type", "application/ocsp-request")],
                                         body: try check.requestDER())
        guard result.status == 200 else { throw CLIError(.failure, "ocsp_http_\(result.status)", "\(url) answered HTTP \(result.status)") }
        let answer = try check.verify(result.body)
        try show(answer, leaf: leaf, url: url)
        switch answer.single.certStatus {
        case .good: return
        case .revoked: throw ExitCode(ExitStatus.revoked.rawValue)
        case .unknown: throw ExitCode(ExitStatus.unknown.rawValue)
        }
    }

    /// The CA certificate that signed `leaf`: from a file, from an issuer's generations, or from the
    /// certificate's own chain as the admin API stores it.
    private func findIssuer(of leaf: Certificate) async throws -> Certificate {
        var candidates: [Certificate]
        if let issuerCert {
            candidates = try PEMCertificates.read(issuerCert)
        } else if let issuer {
            let reply = try await global.client().get("/api/v1/issuers/\(issuer.pathSegment)")
            candidates = try reply.json["generations"].array.compactMap(\.["certificate_pem"].string).flatMap(PEMCertificates.parse)
        } else {
            let serial = SerialNumber.canonicalHex(ofDERInteger: Array(leaf.serialNumber.bytes)) ?? ""
            let stored = try await CertificateRef.fetch(serial, try global.client())
            candidates = try PEMCertificates.parse(stored.json["chain_pem"].string ?? "")
        }
        guard let found = PEMCertificates.signer(of: leaf, among: candidates) else {
            throw CLIError(.notFound, "issuer_not_found", "no issuer certificate found that signed \(certificate) (subject issuer \(leaf.issuer))")
        }
        return found
    }

    private func show(_ answer: OCSPVerification.Answer, leaf: Certificate, url: String) throws {
        let formatter = ISO8601DateFormatter()
        var fields: [String: JSONValue?] = [
            "status": .string(answer.single.certStatus.name), "serial": .string(SerialNumber.canonicalHex(ofDERInteger: Array(leaf.serialNumber.bytes)) ?? "-"),
            "responder_url": .string(url), "responder": .string(answer.responder),
            "produced_at": .string(formatter.string(from: answer.producedAt)),
            "this_update": .string(formatter.string(from: answer.single.thisUpdate)),
            "next_update": answer.single.nextUpdate.map { .string(formatter.string(from: $0)) },
            "nonce_echoed": .bool(answer.nonceEchoed), "signature": "valid",
        ]
        if case .revoked(let time, let reason) = answer.single.certStatus {
            fields["revoked_at"] = .string(formatter.string(from: time))
            fields["reason_code"] = reason.map { .number(Double($0)) }
        }
        let json = JSONValue.object(fields)
        if global.json { return try Console.json(json) }
        var details = Details()
        for key in ["status", "serial", "revoked_at", "reason_code", "this_update", "next_update", "produced_at", "responder",
                    "responder_url", "signature", "nonce_echoed"] where !json[key].isNull {
            details.add(key, json[key].text)
        }
        Console.out(details.render())
    }
}
