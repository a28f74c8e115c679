import ArgumentParser
import CertctlAdminCore
import CertctlConfig
import CertctlObservability
import CertctlPKI
import CertctlRPC
import CertctlRuntime
import CertctlStore
import Foundation
import Logging

/// `certctl-admin issuer …`: create issuers and rotate their CA keys from the
/// admin host, with admin's configuration (its database URL and signer
/// identity). The same operations as `POST /api/v1/issuers…`; the signer
/// makes and keeps every key and audits every step.
struct IssuerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issuer", abstract: "Create issuers, rotate CA keys, show key generations.",
        subcommands: [ListGenerations.self, Create.self, Rotate.self, InstallCertificate.self])

    struct Options: ParsableArguments {
        @Option(help: "Who is asking, for the audit trail.")
        var actor = "certctl-admin cli"
    }

    struct ListGenerations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generations", abstract: "Show an issuer's key generations.")
        @Argument(help: "Issuer id.") var issuer: String

        func run() async throws {
            try await IssuerCLI.withParts { _, store in
                let rows = try await store.list(issuerID: issuer)
                guard !rows.isEmpty else { ServiceProcess.exitWith("certctl-admin issuer: issuer \(issuer) does not exist", code: 1) }
                print(IssuerCLI.table(rows))
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an issuer: the signer makes its first key generation.")
        @Argument(help: "Issuer id (^[a-z0-9][a-z0-9-]{0,62}$).") var issuer: String
        @Option(help: "Subject, /O=Example/CN=Name or CN=Name,O=Example.") var subject: String
        @Option(help: "Display name.") var displayName: String?
        @Option(help: "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096.") var algorithm = "ecdsa-p256"
        @Option(help: "self-signed or sub-ca (then install the parent's certificate).") var mode = "self-signed"
        @Option(help: "Validity of a self-signed certificate, in days.") var days = 3650
        @Option(help: "Write the CSR (sub-ca mode) here.") var csrOut: String?
        @OptionGroup var options: Options

        func run() async throws {
            try await IssuerCLI.withParts { operations, store in
                let request = RotationRequest(
                    issuerID: issuer, mode: try IssuerCLI.mode(mode), keyAlgorithm: algorithm, subject: subject,
                    validitySeconds: Int64(days) * 86_400, activateAt: nil, crossCertificate: false, requestedBy: options.actor)
                let result = try await IssuerCLI.perform { try await operations.create(request, displayName: displayName) }
                try IssuerCLI.report(result, csrOut: csrOut, store: store)
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rotate an issuer's CA key (a new key generation).")
        @Argument(help: "Issuer id.") var issuer: String
        @Option(help: "self-signed or sub-ca; default: like the active generation.") var mode: String?
        @Option(help: "Key algorithm; default: the active generation's.") var algorithm: String?
        @Option(help: "Subject; default: the active generation's.") var subject: String?
        @Option(help: "Validity of a self-signed certificate, in days.") var days: Int?
        @Option(help: "Activate at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z); default: at once.") var activateAt: String?
        @Flag(help: "Also certify the new key with the active generation's key.") var crossCertificate = false
        @Option(help: "Write the CSR (sub-ca mode) here.") var csrOut: String?
        @OptionGroup var options: Options

        func run() async throws {
            try await IssuerCLI.withParts { operations, store in
                let request = RotationRequest(
                    issuerID: issuer, mode: try mode.map(IssuerCLI.mode), keyAlgorithm: algorithm, subject: subject,
                    validitySeconds: days.map { Int64($0) * 86_400 }, activateAt: try activateAt.map(IssuerCLI.time),
                    crossCertificate: crossCertificate, requestedBy: options.actor)
                let result = try await IssuerCLI.perform { try await operations.rotate(request) }
                try IssuerCLI.report(result, csrOut: csrOut, store: store)
            }
        }
    }

    struct InstallCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install-certificate", abstract: "Install the parent's certificate for a pending sub-CA generation.")
        @Argument(help: "Issuer id.") var issuer: String
        @Argument(help: "Generation number.") var generation: Int
        @Option(help: "PEM file with the certificate the parent issued.") var certificate: String
        @Option(help: "PEM file with the certificates above it, nearest first.") var chain: String?
        @Option(help: "Activate at this time (RFC 3339); default: the rotation's time, or at once.") var activateAt: String?
        @OptionGroup var options: Options

        func run() async throws {
            try await IssuerCLI.withParts { operations, store in
                let certificatePEM = try String(contentsOfFile: certificate, encoding: .utf8)
                let chainPEM = try chain.map { try String(contentsOfFile: $0, encoding: .utf8) }
                let result = try await IssuerCLI.perform {
                    try await operations.install(issuerID: issuer, generation: generation, certificatePEM: certificatePEM,
                                                 chainPEM: chainPEM, activateAt: try activateAt.map(IssuerCLI.time),
                                                 requestedBy: options.actor)
                }
                try IssuerCLI.report(result, csrOut: nil, store: store)
            }
        }
    }
}

/// What the issuer subcommands share: configuration, connections, output.
enum IssuerCLI {
    static func withParts(_ body: (IssuerOperations, IssuerGenerationStore) async throws -> Void) async throws {
        try await AdminCLIContext.run(label: "certctl-admin issuer") { database, signer, logger in
            let store = IssuerGenerationStore(client: database.client, logger: logger)
            try await body(IssuerOperations(signer: signer, issuers: IssuerStore(client: database.client, logger: logger),
                                            generations: store), store)
        }
    }

    /// Runs an operation; a refusal or an unreachable database ends the process with its message.
    static func perform(_ body: () async throws -> GenerationResult) async throws -> GenerationResult {
        do {
            return try await body()
        } catch let failure as IssuerOperations.Failure {
            ServiceProcess.exitWith("certctl-admin issuer: \(failure)", code: 1)
        } catch {
            ServiceProcess.exitWith("certctl-admin issuer: \(DatabaseErrorText.describe(error))", code: 1)
        }
    }

    static func report(_ result: GenerationResult, csrOut: String?, store: IssuerGenerationStore) throws {
        print("issuer \(result.issuerID) generation \(result.generation): \(result.status)"
            + (result.activateAt.map { " (activates \(ISO8601DateFormatter().string(from: $0)))" } ?? ""))
        if let certificate = result.certificateDER { print(PEM.certificate(certificate), terminator: "") }
        if let cross = result.crossCertificateDER {
            print("cross-certificate (the new key certified by the previous generation):")
            print(PEM.certificate(cross), terminator: "")
        }
        if let csr = result.csrDER {
            let pem = PEM.certificateRequest(csr)
            if let csrOut {
                try pem.write(toFile: csrOut, atomically: true, encoding: .utf8)
                print("CSR written to \(csrOut): have the parent CA sign it, then run certctl-admin issuer install-certificate \(result.issuerID) \(result.generation) --certificate FILE")
            } else {
                print(pem, terminator: "")
            }
        }
    }

    static func table(_ rows: [IssuerGeneration]) -> String {
        let formatter = ISO8601DateFormatter()
        var lines = ["GEN\tSTATUS\tNOT_AFTER\tCERTS\tREVOKED\tUNEXPIRED\tLAST_CRL"]
        for row in rows {
            lines.append([
                "\(row.generation)", row.status.rawValue, row.notAfter.map(formatter.string) ?? "-", "\(row.certificates)",
                "\(row.revoked)", "\(row.unexpired)", row.lastCRLNumber,
            ].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }

    static func mode(_ text: String) throws -> RotationRequest.Mode {
        guard let mode = RotationRequest.Mode(rawValue: text) else { throw ValidationError("--mode must be self-signed or sub-ca") }
        return mode
    }

    static func time(_ text: String) throws -> Date {
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw ValidationError("\(text) is not an RFC 3339 time such as 2027-01-01T00:00:00Z")
        }
        return date
    }
}
