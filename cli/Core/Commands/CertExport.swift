import ArgumentParser
import Foundation

/// `certctl cert export`: `GET /api/v1/certificates/{id}/export`, one file per certificate.
/// The PKCS#12 password is read from a file or stdin, never from the command line (ps shows argv).
struct CertExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export certificates as PEM (with chain), DER, PKCS#7 or PKCS#12.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case pem, der, pkcs7, pkcs12
        var fileExtension: String {
            switch self {
            case .pem: return "pem"
            case .der: return "der"
            case .pkcs7: return "p7b"
            case .pkcs12: return "p12"
            }
        }
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Certificate ids or serials.") var certificates: [String] = []
    @Option(name: .customLong("from-file"), help: "File with one id or serial per line ('#' comments).", completion: .file())
    var fromFile: String?
    @Option(help: "pem, der, pkcs7 or pkcs12.") var format: Format = .pem
    @Option(help: "Output file for one certificate ('-' for stdout).", completion: .file()) var out: String?
    @Option(name: .customLong("out-dir"), help: "Directory for many: <id>.<pem|der|p7b|p12>.", completion: .directory)
    var outDir: String?
    @Option(name: .customLong("password-file"), help: "File whose first line is the PKCS#12 password (8 to 1024 characters).",
            completion: .file())
    var passwordFile: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the PKCS#12 password from stdin's first line.") var passwordStdin = false
    @Flag(help: "Replace existing files.") var force = false

    func validate() throws {
        guard !certificates.isEmpty || fromFile != nil else { throw ValidationError("name certificates, or --from-file FILE") }
        guard (out == nil) != (outDir == nil) else { throw ValidationError("give --out FILE (one certificate) or --out-dir DIR") }
        if format == .pkcs12, (passwordFile == nil) == !passwordStdin {
            throw ValidationError("pkcs12 needs the password: --password-file FILE or --password-stdin")
        }
    }

    func run() async throws {
        let client = try global.client()
        var references = certificates
        if let fromFile { references += CertRevokeBulk.parse(String(decoding: try OutputFile.read(fromFile), as: UTF8.self)) }
        if out != nil, references.count != 1 { throw CLIError.usage("--out takes one certificate; use --out-dir for \(references.count)") }
        var headers: [(String, String)] = []
        if format == .pkcs12 { headers.append(("Certctl-Export-Password", try password())) }
        if let outDir { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) }

        let progress = Progress("exporting", total: references.count, enabled: references.count > 1)
        for reference in references {
            let id = try await CertificateRef.id(reference, client)
            let result = try await client.send(.GET, "/api/v1/certificates/\(id)/export", query: [("format", format.rawValue)],
                                               headers: headers)
            let path = out ?? "\(outDir!)/\(id).\(format.fileExtension)"
            // a PKCS#12 file is as sensitive as its password: keep it private like a key
            if format == .pkcs12, path != "-" {
                try SecretFile.write(result.body, to: path, replace: force)
            } else {
                try OutputFile.write(result.body, to: path, force: force)
            }
            progress.advance()
            if path != "-", references.count == 1 { Console.err("\(reference) exported to \(path) (\(format.rawValue))") }
        }
        progress.finish()
    }

    private func password() throws -> String {
        let bytes = passwordStdin ? Array(FileHandle.standardInput.readDataToEndOfFile()) : try OutputFile.read(passwordFile!)
        let text = String(decoding: bytes, as: UTF8.self)
        let line = String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        guard (8...1024).contains(line.count) else { throw CLIError.usage("the PKCS#12 password must have 8 to 1024 characters") }
        return line
    }
}
