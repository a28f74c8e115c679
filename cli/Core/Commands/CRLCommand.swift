import ArgumentParser
import CertctlPKI
import Foundation
import X509

/// `certctl crl …`: the CRLs the issuers publish, read from their public CRL URLs.
struct CRLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl", abstract: "Show and download published CRLs.", subcommands: [CRLStatus.self, CRLFetch.self])
}

/// One issuer generation's published CRL, fetched and checked against that generation's certificate.
struct PublishedCRL {
    let issuerID: String
    let generation: Int
    let url: String
    let crl: FetchedCRL
    let signatureValid: Bool

    static func fetch(_ client: AdminClient, issuer: String, generation: Int?) async throws -> PublishedCRL {
        let reply = try await client.get("/api/v1/issuers/\(issuer.pathSegment)")
        let wanted = generation ?? reply.json["generation"].int ?? 1
        guard let entry = reply.json["generations"].array.first(where: { $0["generation"].int == wanted }),
              let url = entry["crl_url"].string
        else { throw CLIError(.notFound, "generation_not_found", "issuer \(issuer) has no generation \(wanted)") }
        let result = try await client.http.send(.GET, try RequestURL(url))
        guard result.status == 200 else {
            throw CLIError(CLIError.status(forHTTP: result.status), "crl_unavailable", "GET \(url) answered HTTP \(result.status)")
        }
        let crl = try FetchedCRL(der: result.body)
        let certificate = try entry["certificate_pem"].string.flatMap { try PEMCertificates.parse($0).first }
        return PublishedCRL(issuerID: issuer, generation: wanted, url: url, crl: crl,
                            signatureValid: certificate.map(crl.isSigned(by:)) ?? false)
    }

    var json: JSONValue {
        let fields = crl.fields
        return .object([
            "issuer_id": .string(issuerID), "generation": .number(Double(generation)), "url": .string(url),
            "crl_number": .string(crl.number), "this_update": .string(ISO8601DateFormatter().string(from: fields.thisUpdate)),
            "next_update": fields.nextUpdate.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
            "entries": .number(Double(fields.revokedCount)), "signature_valid": .bool(signatureValid),
            "bytes": .number(Double(crl.der.count)),
        ])
    }
}

struct CRLStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "CRL number, thisUpdate, nextUpdate and entries of each issuer's current CRL.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Issuer id (default: every issuer).") var issuer: String?
    @Option(help: "Key generation (default: the current one).") var generation: Int?

    func run() async throws {
        let client = try global.client()
        var issuers = issuer.map { [$0] } ?? []
        if issuer == nil { issuers = try await client.get("/api/v1/issuers").json["items"].array.compactMap { $0["id"].string } }
        let published = try await issuers.asyncMap { try await PublishedCRL.fetch(client, issuer: $0, generation: generation) }
        if global.json { return try Console.json(.object(["items": .array(published.map(\.json))])) }
        var table = Table(["ISSUER", "GEN", "NUMBER", "THIS UPDATE", "NEXT UPDATE", "ENTRIES", "SIGNATURE"])
        for item in published {
            let json = item.json
            table.add([item.issuerID, "\(item.generation)", item.crl.number, json["this_update"].text, json["next_update"].text,
                       "\(item.crl.fields.revokedCount)", item.signatureValid ? "valid" : "INVALID"])
        }
        Console.out(table.render())
        if published.contains(where: { !$0.signatureValid }) { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}

struct CRLFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fetch", abstract: "Download an issuer's CRL (DER, or PEM).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Issuer id.") var issuer: String
    @Option(help: "Key generation (default: the current one).") var generation: Int?
    @Option(name: .customLong("out"), help: "Output file ('-' for stdout).", completion: .file()) var out: String
    @Flag(help: "Write PEM instead of DER.") var pem = false
    @Flag(help: "Replace an existing file.") var force = false

    func run() async throws {
        let published = try await PublishedCRL.fetch(try global.client(), issuer: issuer, generation: generation)
        guard published.signatureValid else {
            throw CLIError(.verificationFailed, "crl_signature_invalid", "the CRL at \(published.url) is not signed by generation \(published.generation) of \(issuer)")
        }
        try OutputFile.write(pem ? Array(PEM.crl(published.crl.der).utf8) : published.crl.der, to: out, force: force)
        if out != "-" {
            if global.json { return try Console.json(published.json) }
            Console.err("CRL \(published.crl.number) of \(issuer) generation \(published.generation) (\(published.crl.fields.revokedCount) entries) written to \(out)")
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
