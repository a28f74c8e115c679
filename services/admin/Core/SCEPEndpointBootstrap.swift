import CertctlConfig
import CertctlRuntime
import CertctlStore
import Crypto
import Foundation
import Logging
import PostgresNIO

/// Creates the SCEP endpoint the bootstrap variables describe, unless one of
/// that name exists (it is never changed). Admin writes it because endpoints
/// are policy: certctl-enroll's database role cannot.
enum SCEPEndpointBootstrap {
    static func run(_ bootstrap: SCEPBootstrap, store: EnrollmentSCEPStore, logger: Logger) async {
        let record = SCEPEndpointRecord(
            name: bootstrap.ra.name, issuerID: bootstrap.issuerID, profileID: bootstrap.certificateProfile,
            raCertPath: bootstrap.ra.raCertPath, raKeyPath: bootstrap.ra.raKeyPath,
            staticChallengeSHA256: bootstrap.challenge.map { Array(SHA256.hash(data: Data($0.utf8))) },
            allowOneTimeChallenges: true, validityDays: nil)
        let audit = AuditRecord(service: "admin", actor: "bootstrap", action: "scep_profile.create", outcome: .success,
                                targetType: "scep_profile", targetID: bootstrap.ra.name,
                                details: ["source": "CERTCTL_SCEP_BOOTSTRAP_PROFILE"])
        do {
            // Until the signer has registered the issuer, the foreign key fails: wait for it like for an
            // unreachable database.
            let created = try await retryWhileDatabaseUnavailable("SCEP bootstrap endpoint", logger: logger, isRetryable: { error in
                if case EnrollmentStoreError.missingReference = error { return true }
                return DatabaseErrorText.isUnreachable(error)
            }) {
                try await store.create(record, audit: audit, ifAbsent: true)
            }
            logger.info(created ? "created SCEP bootstrap endpoint" : "SCEP bootstrap endpoint exists; left unchanged",
                        metadata: ["endpoint": "\(bootstrap.ra.name)"])
        } catch {
            logger.error("could not create the SCEP bootstrap endpoint", metadata: [
                "endpoint": "\(bootstrap.ra.name)", "error": "\(DatabaseErrorText.describe(error))",
            ])
        }
    }
}
