import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Crypto
import Foundation
import Logging
import SwiftASN1
import X509

/// The URLs issued certificates point relying parties at.
public struct PublicationURLs: Sendable {
    public var ocspBase: String
    public var crlBase: String

    public init(ocspBase: String, crlBase: String) {
        self.ocspBase = ocspBase
        self.crlBase = crlBase
    }

    public func ocsp(_ issuerID: String) -> String { "\(ocspBase)/.well-known/pki/ocsp/\(issuerID)" }
    /// Each key generation has its own CRL and CA certificate URL, so a
    /// rotation never changes what an older certificate points at.
    public func crl(_ issuerID: String, generation: Int) -> String { "\(crlBase)/.well-known/pki/crl/\(issuerID)/\(generation)" }
    public func caIssuers(_ issuerID: String, generation: Int) -> String {
        "\(crlBase)/.well-known/pki/ca/\(issuerID)/\(generation).crt"
    }
}

public struct IssuanceRequest: Sendable {
    public var csrPEM: String
    public var issuerID: String
    public var profileID: String
    public var validityDays: Int?
    /// Instead of days: a short-lived certificate (at least 60 s).
    public var validitySeconds: Int?
    public var requestedBy: String
    public var source: String
    public var idempotencyKey: String?
    /// The SCEP endpoint or EST label asking (`EnrollmentEndpoint`), recorded with the certificate; nil for the admin API.
    public var enrollmentEndpoint: String?

    public init(csrPEM: String, issuerID: String, profileID: String, validityDays: Int?, requestedBy: String,
                source: String, idempotencyKey: String?, enrollmentEndpoint: String? = nil, validitySeconds: Int? = nil) {
        self.validitySeconds = validitySeconds
        self.csrPEM = csrPEM
        self.issuerID = issuerID
        self.profileID = profileID
        self.validityDays = validityDays
        self.requestedBy = requestedBy
        self.source = source
        self.idempotencyKey = idempotencyKey
        self.enrollmentEndpoint = enrollmentEndpoint
    }
}

public struct IssuanceResult: Sendable {
    public var certificate: CertificateRecord
    public var issuerCertificateDER: [UInt8]
    /// False when an Idempotency-Key replay returned an earlier result.
    public var created: Bool
}

/// The issuance core that the admin API, SCEP and EST all call: check the
/// CSR against its profile, reserve the row (fresh random serial), have the
/// signer sign over RPC (it stores the DER and marks the row issued), return it.
public struct IssuanceService: Sendable {
    let issuers: IssuerStore
    let profiles: ProfileStore
    let certificates: CertificateRecordStore
    let signer: any SigningClient
    let urls: PublicationURLs
    let logger: Logger
    /// Clock-skew allowance: notBefore is set this far in the past.
    static let backdate: TimeInterval = 300

    public init(database: Database, signer: any SigningClient, urls: PublicationURLs, logger: Logger) {
        issuers = IssuerStore(client: database.client, logger: logger)
        profiles = ProfileStore(client: database.client, logger: logger)
        certificates = CertificateRecordStore(client: database.client, logger: logger)
        self.signer = signer
        self.urls = urls
        self.logger = logger
    }

    /// The checks `issue` makes before it reserves a serial (CSR, issuer, profile, key,
    /// SANs, validity), without issuing: for requests held for approval, so an
    /// operator is never asked to approve what would be refused anyway.
    public func check(_ request: IssuanceRequest) async throws {
        _ = try await validate(request)
    }

    /// A request that passed every check, with what signing needs.
    private struct Validated {
        let csr: CertificateSigningRequest
        let issuer: IssuerRecord
        let issuerCertificate: Certificate
        let profile: CertificateProfile
        let sans: [GeneralName]
        let days: Int
        /// The certificate's lifetime in seconds (days, or the request's validity_seconds).
        let validity: Int
    }

    private func validate(_ request: IssuanceRequest) async throws -> Validated {
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pemEncoded: request.csrPEM)
        } catch {
            // A well-formed CSR with a key swift-certificates will not load (RSA-1024, P-521…) is a key problem.
            if let key = CSRKeyProbe.describeKey(pem: request.csrPEM) {
                throw IssuanceError.profileViolation(.keyNotAllowed("\(key) keys are not allowed (profile \(request.profileID))"))
            }
            throw IssuanceError.invalidCSR("csr_pem is not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else { throw IssuanceError.csrSignatureInvalid }
        guard let issuer = try await issuers.get(request.issuerID) else { throw IssuanceError.issuerNotFound(request.issuerID) }
        guard let record = try await profiles.get(request.profileID) else { throw IssuanceError.profileNotFound(request.profileID) }
        guard let profile = record.policy else {
            throw IssuanceError.invalidRequest("profile \(record.id) holds values this build does not know")
        }
        let issuerCertificate = try Certificate(derEncoded: issuer.certificateDER)

        let sans: [GeneralName]
        do {
            sans = Array(try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames ?? SubjectAlternativeNames())
        } catch {
            throw IssuanceError.invalidCSR("the CSR's extension request cannot be read: \(error)")
        }
        do {
            _ = try profile.checkKey(csr.publicKey)
            try profile.checkSANs(sans)
        } catch {
            throw IssuanceError.profileViolation(error)
        }
        guard !sans.isEmpty || !csr.subject.isEmpty else {
            throw IssuanceError.invalidCSR("the CSR has neither a subject nor subject alternative names")
        }
        guard request.validityDays == nil || request.validitySeconds == nil else {
            throw IssuanceError.invalidRequest("give validity_days or validity_seconds, not both")
        }
        let days = request.validityDays ?? profile.maxValidityDays
        guard days >= 1 else { throw IssuanceError.invalidRequest("validity_days must be at least 1") }
        guard days <= profile.maxValidityDays else {
            throw IssuanceError.profileViolation(.validityTooLong(
                "validity_days \(days) exceeds profile \(profile.id)'s maximum of \(profile.maxValidityDays)"))
        }
        var validity = days * 86_400
        if let seconds = request.validitySeconds {
            guard seconds >= 60 else { throw IssuanceError.invalidRequest("validity_seconds must be at least 60") }
            guard seconds <= profile.maxValidityDays * 86_400 else {
                throw IssuanceError.profileViolation(.validityTooLong(
                    "validity_seconds \(seconds) exceeds profile \(profile.id)'s maximum of \(profile.maxValidityDays) days"))
            }
            validity = seconds
        }
        return Validated(csr: csr, issuer: issuer, issuerCertificate: issuerCertificate, profile: profile, sans: sans, days: days,
                         validity: validity)
    }

    public func issue(_ request: IssuanceRequest) async throws -> IssuanceResult {
        let checked = try await validate(request)
        let csr = checked.csr, issuer = checked.issuer, issuerCertificate = checked.issuerCertificate
        let profile = checked.profile, sans = checked.sans, days = checked.days, validity = checked.validity
        // Whole seconds: certificates carry no fractions, so the row must not either.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let notBefore = max(now.addingTimeInterval(-Self.backdate), issuerCertificate.notValidBefore)
        // Never beyond the CA's own notAfter.
        let notAfter = min(now.addingTimeInterval(Double(validity)), issuerCertificate.notValidAfter)
        let sanTexts = sans.map(GeneralNameText.describe)
        let fingerprint = Self.fingerprint(request, days: request.validitySeconds == nil ? days : 0, seconds: validity)

        for _ in 0..<3 {
            let serial = SerialNumber.random()
            guard let serialHex = SerialNumber.canonicalHex(ofDERInteger: serial) else { continue }
            let outcome = try await Self.refusingReadOnly { try await certificates.reserve(CertificateReservation(
                issuerID: issuer.id, issuerGeneration: issuer.generation, serialHex: serialHex, profileID: profile.id,
                subject: csr.subject.description, subjectDER: try ReservationFields.subjectDER(csr.subject),
                spkiSHA256: try ReservationFields.spkiSHA256(csr.publicKey), subjectAltNames: sanTexts, notBefore: notBefore, notAfter: notAfter,
                csrDER: try Self.der(csr), requestedBy: request.requestedBy, source: request.source,
                idempotencyKey: request.idempotencyKey, requestFingerprint: fingerprint, enrollmentEndpoint: request.enrollmentEndpoint)) }
            switch outcome {
            case .serialTaken:
                continue
            case .idempotent(let existing, let same):
                guard same else { throw IssuanceError.idempotencyConflict }
                guard let record = try await certificates.get(existing) else { throw IssuanceError.certificateNotFound }
                return IssuanceResult(certificate: record, issuerCertificateDER: issuer.certificateDER, created: false)
            case .reserved(let id, let createdAt):
                let content = LeafCertificateContent(
                    serial: serial, subject: csr.subject, publicKey: csr.publicKey, notBefore: notBefore, notAfter: notAfter,
                    subjectAlternativeNames: sans, extendedKeyUsages: profile.extendedKeyUsages.map(\.extendedKeyUsage),
                    ocspURL: urls.ocsp(issuer.id), crlURL: urls.crl(issuer.id, generation: issuer.generation),
                    caIssuersURL: urls.caIssuers(issuer.id, generation: issuer.generation))
                let tbs = try TBSCertificateBuilder.leaf(content, issuer: issuerCertificate)
                let der = try await sign(tbs: tbs, id: id, issuer: issuer, profileID: profile.id, requestedBy: request.requestedBy)
                // The signer stored the row as issued; describe it without reading it back.
                let record = CertificateRecord(
                    id: id, issuerID: issuer.id, issuerGeneration: issuer.generation, serialHex: serialHex, status: "issued",
                    profileID: profile.id, subject: csr.subject.description, subjectAltNames: sanTexts,
                    notBefore: notBefore, notAfter: notAfter, certificateDER: der, requestedBy: request.requestedBy,
                    createdAt: createdAt, failureReason: nil, revocation: nil, enrollmentEndpoint: request.enrollmentEndpoint)
                return IssuanceResult(certificate: record, issuerCertificateDER: issuer.certificateDER, created: true)
            }
        }
        throw IssuanceError.invalidRequest("could not reserve a unique serial number")
    }

    /// Returns the signed certificate's DER (which the signer has already stored).
    private func sign(tbs: [UInt8], id: UUID, issuer: IssuerRecord, profileID: String, requestedBy: String) async throws -> [UInt8] {
        let request = LeafSigningRequest(issuerID: issuer.id, issuerGeneration: issuer.generation, tbs: tbs, profileID: profileID,
                                         certificateID: id, requestedBy: requestedBy)
        var retried = false
        while true {
            do {
                // First attempt fails at once while the signer is unreachable; the retry waits a
                // moment for a signer that is restarting. A dead signer costs the client ~3 s, not 20.
                return try await signer.signLeaf(request, timeout: retried ? Self.retryWait : .seconds(10), waitForReady: retried)
            } catch .refused(let code, let message) {
                // the first attempt did sign (its answer was lost): the row is issued, not pending
                if retried, code == "no_reservation", let record = try? await certificates.get(id), record.status == "issued",
                   let der = record.certificateDER {
                    return der
                }
                try? await certificates.markFailed(id: id, reason: "\(code): \(message)")
                throw IssuanceError.signerRefused(code: code, message: message)
            } catch .unavailable(let text) {
                // A connection the signer closed (a signer restart) fails the first call on it: try
                // once more. The signer completes only a pending row, so this never issues twice.
                if !retried {
                    retried = true
                    logger.notice("signer RPC failed; retrying once", metadata: ["certificate_id": "\(id)", "error": "\(text)"])
                    continue
                }
                // Unknown whether it was signed: the row stays pending; the signer
                // completes it if it did sign, otherwise the reaper marks it failed.
                logger.error("signer RPC failed; reservation left pending", metadata: [
                    "certificate_id": "\(id)", "error": "\(text)",
                ])
                throw IssuanceError.signerUnavailable("the signer could not be reached: \(text)")
            }
        }
    }

    /// A read-only database (SQLSTATE 25006) as the typed refusal `databaseReadOnly`.
    static func refusingReadOnly<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch where DatabaseErrorText.isReadOnly(error) {
            throw IssuanceError.databaseReadOnly
        }
    }

    /// How long the retry waits for an unreachable signer to come back.
    static let retryWait: Duration = .seconds(3)

    static func der(_ csr: CertificateSigningRequest) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return serializer.serializedBytes
    }

    /// SHA-256 over what determines the certificate: same key + same body = same request.
    static func fingerprint(_ request: IssuanceRequest, days: Int, seconds: Int) -> String {
        var text = [request.csrPEM.trimmingCharacters(in: .whitespacesAndNewlines), request.issuerID, request.profileID, "\(days)"]
        if request.validitySeconds != nil { text.append("\(seconds)s") }
        return Hex.string(SHA256.hash(data: Data(text.joined(separator: "\u{0}").utf8)))
    }
}
