import CertctlConfig
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Creates the SCEP profile described by the SCEP bootstrap variables once the
/// schema is there, unless a profile of that name exists (never changes it).
struct SCEPBootstrapService: Service {
    let bootstrap: EnrollConfig.SCEPBootstrap
    let store: EnrollmentSCEPStore
    let logger: Logger

    /// The RA key must be owner-only before anything starts (exit 78 otherwise).
    static func checkFiles(_ bootstrap: EnrollConfig.SCEPBootstrap) throws(ConfigError) {
        try PrivateFile.checkReadable(bootstrap.raCertPath, variable: Catalog.scepBootstrapRACert.name)
        try PrivateFile.checkOwnerOnly(bootstrap.raKeyPath, variable: Catalog.scepBootstrapRAKey.name)
    }

    func run() async throws {
        let record = SCEPEndpointRecord(
            name: bootstrap.name, issuerID: bootstrap.issuerID, profileID: bootstrap.certificateProfile,
            raCertPath: bootstrap.raCertPath, raKeyPath: bootstrap.raKeyPath,
            staticChallengeSHA256: bootstrap.challenge.map { Array(SHA256.hash(data: Data($0.utf8))) },
            allowOneTimeChallenges: true, validityDays: nil)
        let audit = AuditRecord(service: "enroll", actor: "bootstrap", action: "scep_profile.create", outcome: .success,
                                targetType: "scep_profile", targetID: bootstrap.name,
                                details: ["source": "CERTCTL_SCEP_BOOTSTRAP_PROFILE"])
        do {
            // Until admin has migrated, the table is missing (42P01) or lacks a later migration's column
            // (42703); until the signer has registered the issuer, the foreign key fails: wait for all of
            // them like for an unreachable database.
            let created = try await retryWhileDatabaseUnavailable("SCEP bootstrap profile", logger: logger, isRetryable: { error in
                if case EnrollmentStoreError.missingReference = error { return true }
                let state = (error as? PSQLError)?.serverInfo?[.sqlState]
                return DatabaseErrorText.isUnreachable(error) || state == "42P01" || state == "42703"
            }) {
                try await store.create(record, audit: audit, ifAbsent: true)
            }
            logger.info(created ? "created SCEP bootstrap profile" : "SCEP bootstrap profile exists; left unchanged",
                        metadata: ["profile": "\(bootstrap.name)"])
        } catch {
            logger.error("could not create the SCEP bootstrap profile", metadata: [
                "profile": "\(bootstrap.name)", "error": "\(error)",
            ])
        }
        // A finished service would end the group: stay until shutdown.
        try? await gracefulShutdown()
    }
}
