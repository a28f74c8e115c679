import CertctlRPC
import CertctlStore
import Foundation
import Logging
import PostgresNIO

/// One line of `certctl-admin doctor`.
package struct DoctorCheck: Sendable, Equatable {
    package enum Level: String, Sendable { case ok, warn, fail = "FAIL" }
    package var level: Level
    package var name: String
    package var detail: String

    package var line: String { "\(level.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(name): \(detail)" }
}

/// The disaster-recovery checklist's checks against a live deployment
/// (docs/disaster-recovery.md, "DR checklist"): schema, signer, every key
/// generation's CA expiry and key file, OCSP responders and CRL freshness
/// per generation. Read-only; it changes nothing.
package struct Doctor: Sendable {
    let client: DatabaseClient
    let signer: any KeyGenerationClient
    let migrator: Migrator
    let logger: Logger

    /// A CA certificate with less than this left is a warning (rotate before it).
    static let caWarning: TimeInterval = 365 * 86_400
    /// A CRL whose nextUpdate is this close is a warning (its publisher should have replaced it).
    static let crlWarning: TimeInterval = 3600

    package init(client: DatabaseClient, signer: any KeyGenerationClient, migrator: Migrator, logger: Logger) {
        self.client = client
        self.signer = signer
        self.migrator = migrator
        self.logger = logger
    }

    package func run(now: Date = Date()) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        do {
            switch try await migrator.status(client, logger: logger) {
            case .current: checks.append(.init(level: .ok, name: "migrations", detail: "schema current (\(migrator.migrations.count) migrations)"))
            case .pending(let versions):
                checks.append(.init(level: .fail, name: "migrations",
                                    detail: "pending: \(versions.map(String.init).joined(separator: ", ")) (run certctl-admin migrate as the schema owner)"))
            case .incompatible(let error): checks.append(.init(level: .fail, name: "migrations", detail: "\(error)"))
            }
        } catch {
            return checks + [.init(level: .fail, name: "database", detail: "unreachable: \(DatabaseErrorText.describe(error))")]
        }
        let generations: [IssuerGeneration], responders: [DeploymentHealthStore.Responders]
        let crls: [DeploymentHealthStore.PublishedCRL], attempts: [DeploymentHealthStore.LastAttempt]
        do {
            let health = DeploymentHealthStore(client: client, logger: logger)
            generations = try await IssuerGenerationStore(client: client, logger: logger).list()
            (responders, crls, attempts) = (try await health.responders(), try await health.crls(), try await health.lastCRLAttempts())
        } catch {
            return checks + [.init(level: .fail, name: "database", detail: "cannot read: \(DatabaseErrorText.describe(error))")]
        }
        for issuerID in Set(generations.filter { $0.status == .active }.map(\.issuerID)).sorted() {
            checks += await signerChecks(issuerID)
        }
        for generation in generations where generation.status != .pending && generation.status != .archived {
            checks += Self.generationChecks(generation, responders: responders, crls: crls, attempts: attempts, now: now)
        }
        for generation in generations where generation.status == .pending {
            checks.append(.init(level: .warn, name: Self.label(generation),
                                detail: generation.certificateDER == nil ? "waits for its parent's certificate (install-certificate)"
                                    : "activates at \(generation.activateAt.map(Self.time) ?? "once its certificate is installed")"))
        }
        return checks
    }

    /// Reachability and the key files as the signer reports them.
    func signerChecks(_ issuerID: String) async -> [DoctorCheck] {
        do {
            let files = try await signer.keyFiles(issuerID)
            var checks = [DoctorCheck(level: .ok, name: "signer", detail: "reachable; holds \(files.count) key(s) of \(issuerID)")]
            for file in files {
                checks.append(.init(level: file.problem.isEmpty ? .ok : .fail, name: "key file \(issuerID)/\(file.generation)",
                                    detail: file.problem.isEmpty ? "\(file.path) (owner only)" : "\(file.path): \(file.problem)"))
            }
            return checks
        } catch {
            return [.init(level: .fail, name: "signer", detail: "\(issuerID): \(error)")]
        }
    }

    static func generationChecks(
        _ generation: IssuerGeneration, responders: [DeploymentHealthStore.Responders], crls: [DeploymentHealthStore.PublishedCRL],
        attempts: [DeploymentHealthStore.LastAttempt], now: Date
    ) -> [DoctorCheck] {
        let name = label(generation)
        var checks: [DoctorCheck] = []
        if let notAfter = generation.notAfter {
            let left = notAfter.timeIntervalSince(now)
            let level: DoctorCheck.Level = left <= 0 ? .fail : left < caWarning ? .warn : .ok
            checks.append(.init(level: level, name: "\(name) CA", detail: "notAfter \(time(notAfter)) (\(days(left)) days left)"
                + (level == .warn && generation.status == .active ? "; rotate it (docs/disaster-recovery.md, CA key rotation)" : "")))
        }
        let own = responders.first { $0.issuerID == generation.issuerID && $0.generation == generation.generation }
        if let own, own.valid > 0, let next = own.nextExpiry {
            let level: DoctorCheck.Level = next.timeIntervalSince(now) < 86_400 ? .warn : .ok
            checks.append(.init(level: level, name: "\(name) OCSP responders",
                                detail: "\(own.valid) valid (one per replica key); the next expires \(time(next))"))
        } else {
            checks.append(.init(level: .warn, name: "\(name) OCSP responders",
                                detail: "none valid (a replica certifies one on its first request for this generation)"))
        }
        if let crl = crls.first(where: { $0.issuerID == generation.issuerID && $0.generation == generation.generation }) {
            let left = crl.nextUpdate.timeIntervalSince(now)
            let level: DoctorCheck.Level = left <= 0 ? .fail : left < crlWarning ? .warn : .ok
            checks.append(.init(level: level, name: "\(name) CRL",
                                detail: "number \(crl.crlNumber), thisUpdate \(time(crl.thisUpdate)), nextUpdate \(time(crl.nextUpdate))"
                                    + (left <= 0 ? " — expired: relying parties fail their checks" : "")))
        } else {
            checks.append(.init(level: .fail, name: "\(name) CRL", detail: "none published (is certctl-crl running?)"))
        }
        if let last = attempts.first(where: { $0.issuerID == generation.issuerID && $0.generation == generation.generation }),
           !last.succeeded {
            checks.append(.init(level: .warn, name: "\(name) CRL generation",
                                detail: "the last attempt failed at \(time(last.startedAt)): \(last.error ?? "no error recorded")"))
        }
        return checks
    }

    static func label(_ generation: IssuerGeneration) -> String {
        "\(generation.issuerID)/\(generation.generation) (\(generation.status.rawValue))"
    }

    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
    static func days(_ seconds: TimeInterval) -> Int { Int((seconds / 86_400).rounded(.down)) }
}
