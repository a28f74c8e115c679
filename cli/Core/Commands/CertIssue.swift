import ArgumentParser
import Foundation

/// `certctl cert issue`: from a CSR file, or with a key generated here (written 0600, never sent).
struct CertIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Issue a certificate from a CSR, or for a P-256 key generated locally.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "PEM CSR file ('-' for stdin).", completion: .file()) var csr: String?
    @Option(help: "Common name of the subject (with a generated key).") var cn: String?
    @Option(help: "subjectAltName, repeatable: DNS:host, IP:addr, email:addr, URI:uri (a bare name is DNS).") var san: [String] = []
    @Option(name: .customLong("key-out"), help: "Where to write the generated private key (mode 0600).", completion: .file())
    var keyOut: String?
    @Option(name: .customLong("out"), help: "Where to write the certificate PEM ('-' for stdout).", completion: .file())
    var out: String?
    @Flag(name: .customLong("with-chain"), help: "Write the certificate followed by its issuer's certificate.") var withChain = false
    @Option(help: "Issuer id (the server's default when absent).") var issuer: String?
    @Option(name: .customLong("cert-profile"), help: "Certificate profile id (default: default).") var certProfile: String?
    @Option(help: "Validity in days (at most the profile's).") var days: Int?
    @Option(name: .customLong("idempotency-key"), help: "Retrying with the same key returns the same certificate.")
    var idempotencyKey: String?
    @Flag(help: "Replace existing output files.") var force = false

    func validate() throws {
        guard (csr == nil) != (cn == nil) else { throw ValidationError("give --csr FILE, or --cn NAME (with a generated key)") }
        if cn != nil, keyOut == nil { throw ValidationError("--cn generates a key: say where with --key-out FILE") }
        if csr != nil, !san.isEmpty || keyOut != nil { throw ValidationError("--san and --key-out go with --cn, not --csr") }
    }

    func run() async throws {
        let client = try global.client()
        var csrPEM: String
        var generatedKey: String?
        if let csr {
            csrPEM = String(decoding: try OutputFile.read(csr), as: UTF8.self)
        } else {
            let request = try LocalKeyRequest(commonName: cn!, names: san)
            csrPEM = request.csrPEM
            generatedKey = request.keyPEM
        }
        if let generatedKey, let keyOut {
            // written before the request so that a certificate never exists without its key on disk
            try SecretFile.write(Array(generatedKey.utf8), to: keyOut, replace: force)
        }
        let body = JSONValue.object([
            "csr_pem": .string(csrPEM), "issuer_id": issuer.map(JSONValue.string),
            "profile_id": certProfile.map(JSONValue.string), "validity_days": days.map { .number(Double($0)) },
        ])
        let reply: AdminClient.Reply
        do {
            reply = try await client.post("/api/v1/certificates", body, headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
        } catch {
            if generatedKey != nil, let keyOut { unlink(keyOut) }
            throw error
        }
        if let out, let pem = reply.json[withChain ? "chain_pem" : "certificate_pem"].string {
            try OutputFile.write(Array(pem.utf8), to: out, force: force)
        }
        if global.json { return Console.json(reply.raw) }
        if out != "-" {
            Console.out(CertificateView.details(reply.json))
            if let out { Console.err("certificate written to \(out)") }
            if let keyOut { Console.err("private key written to \(keyOut) (mode 0600)") }
        }
    }
}
