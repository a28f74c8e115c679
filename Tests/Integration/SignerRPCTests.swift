import CertctlConfig
import NIOCore
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import GRPCCore
import PostgresNIO
import SwiftASN1
import Testing
import X509

/// certctl-signer as a real process, called over gRPC with mutual TLS by
/// clients holding real identity certificates.
@Suite("Signer RPC", .timeLimit(.minutes(2)))
struct SignerRPCTests {
    let logger = TestEnvironment.logger

    /// A running signer on a fresh, migrated database.
    struct Harness {
        let url: DatabaseURL
        let signer: RunningSigner
        var ca: TestCA { signer.ca }
        var issuer: Certificate { signer.issuer }
        var identities: ServiceIdentities { signer.identities }

        func connection(_ identity: String, identities: ServiceIdentities? = nil) throws -> SignerConnection {
            try signer.connection(identity, identities: identities)
        }
    }

    func withSigner(_ body: (Harness) async throws -> Void) async throws {
        try await TestEnvironment.withFreshDatabase(migrated: true) { url in
            try await RunningSigner.run(url, callers: ["admin", "crl", "enroll", "intruder"]) { signer in
                try await body(Harness(url: url, signer: signer))
            }
        }
    }

    /// Runs `body` with a connected client; closes it afterwards.
    func call<T: Sendable>(_ connection: SignerConnection, _ body: @Sendable (SignerRPC.Client<HTTP2ClientTransportPosix>) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await connection.run(); return nil }
            defer { connection.close() }
            return try await body(connection.rpc)
        }
    }

    /// A leaf request: its TBS and what a reservation records of it.
    struct LeafRequest {
        var serial = SerialNumber.random()
        var hostname = "app.example.com"
        var key = P256Key()
        var sans: [GeneralName]? = nil
        /// Fixed when the request is made, so the TBS and its reservation agree.
        var notAfter = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 86_400 * 20).rounded(.down))

        func tbs(_ issuer: Certificate) throws -> [UInt8] {
            try TBSCertificateBuilder.leaf(LeafCertificateContent(
                serial: serial, subject: try SubjectName.parse("CN=\(hostname)"), publicKey: key.publicKey,
                notBefore: issuer.notValidBefore, notAfter: min(notAfter, issuer.notValidAfter),
                subjectAlternativeNames: sans ?? [.dnsName(hostname)], extendedKeyUsages: [.serverAuth],
                ocspURL: "http://ocsp.test/.well-known/pki/ocsp/iss-local", crlURL: "http://crl.test/.well-known/pki/crl/iss-local",
                caIssuersURL: "http://crl.test/.well-known/pki/ca/iss-local.crt"), issuer: issuer)
        }
    }

    func request(_ tbs: [UInt8], certificateID: UUID = UUID(), purpose: Certctl_Signer_V1_CertificatePurpose = .leaf)
        -> Certctl_Signer_V1_SignCertificateRequest
    {
        var message = Certctl_Signer_V1_SignCertificateRequest()
        message.issuerID = "iss-local"
        message.issuerGeneration = 1
        message.tbsCertificate = Data(tbs)
        message.purpose = purpose
        message.profileID = "default"
        message.requestedBy = "tests"
        message.certificateID = certificateID.uuidString.lowercased()
        return message
    }

    /// Reserves a pending row for `leaf` as the issuance core would (as database role `role`, if given).
    func reserve(_ h: Harness, _ leaf: LeafRequest, profile: String = "default", role: String? = nil) async throws -> UUID {
        let tbs = try TBSCertificateParser.parse(try leaf.tbs(h.issuer)).certificate
        let hex = try #require(SerialNumber.canonicalHex(ofDERInteger: leaf.serial[...]))
        let subject = try ReservationFields.subjectDER(tbs.subject), spki = try ReservationFields.spkiSHA256(tbs.publicKey)
        let sans = tbs.subjectAlternativeNameTexts.map { "'\($0)'" }.joined(separator: ",")
        let id = UUID()
        let insert = """
            INSERT INTO certificates (id, issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_der,
                spki_sha256, subject_alt_names, not_before, not_after, requested_by)
            VALUES ('\(id.uuidString.lowercased())', 'iss-local', 1, '\(hex)', 'pending', '\(profile)', '\(tbs.subject)',
                '\\x\(Hex.string(subject))', '\\x\(Hex.string(spki))', ARRAY[\(sans)]::text[],
                to_timestamp(\(Int(tbs.notValidBefore.timeIntervalSince1970))), to_timestamp(\(Int(tbs.notValidAfter.timeIntervalSince1970))),
                'tests')
            """
        try await TestEnvironment.execute((role.map { ["SET ROLE \($0)"] } ?? []) + [insert], h.url)
        return id
    }

    func refusal(_ body: () async throws -> Void) async -> (code: RPCError.Code, refusal: String)? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return (error.code, (RefusalTrailer.read(error) ?? "none"))
        } catch {
            return nil
        }
    }

    @Test("CERTCTL_SIGNER_ADDR may name the signer by host name (compose's certctl-signer): it is resolved, not parsed as IPv4")
    func signerByName() async throws {
        try await withSigner { h in
            let files = h.identities
            let connection = try SignerConnection(
                address: ListenAddress(host: "localhost", port: h.signer.rpcPort),
                tls: RPCTLSFiles(certificatePath: "\(files.directory)/admin.crt", keyPath: "\(files.directory)/admin.key",
                                 caPath: "\(files.directory)/ca.crt"))
            let issuer = try await call(connection) { rpc in try await rpc.getIssuer(.with { $0.issuerID = "iss-local" }) }
            #expect(issuer.issuerGeneration == 1)
            #expect(issuer.keyFiles.map(\.ownerOnly) == [true], "the signer reports its key file private")
        }
    }

    @Test("a caller whose identity may not use a method gets PERMISSION_DENIED, and the refusal is audited")
    func unauthorisedCaller() async throws {
        try await withSigner { h in
            let message = request(try LeafRequest().tbs(h.issuer))
            // crl may sign CRLs, not certificates
            let crl = try h.connection("crl")
            let denied = await refusal { _ = try await call(crl) { try await $0.signCertificate(message) } }
            #expect(denied?.code == .permissionDenied)
            #expect(denied?.refusal == "permission_denied")
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE service = 'signer' AND outcome = 'denied'
                AND actor = 'certctl-crl' AND error_code = 'permission_denied'
                """, h.url) == 1)
            // an identity from the right CA but not a certctl service
            let intruder = try h.connection("intruder")
            let unknown = await refusal { _ = try await call(intruder) { try await $0.signCertificate(message) } }
            #expect(unknown?.code == .permissionDenied)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND actor = 'certctl-intruder'", h.url) == 1)
            // the right CA, CN certctl-admin, but no URI SAN: nobody (the CN never names a service)
            let cnOnly = try TestCA.cnOnlyIdentity(h.identities, name: "admin-cn")
            let anonymous = await refusal { _ = try await call(try h.connection("admin-cn")) { try await $0.signCertificate(message) } }
            #expect(anonymous?.code == .permissionDenied, "\(cnOnly)")
            // a client certificate from another CA never completes the TLS handshake
            let strangers = try TestCA.identities(in: h.ca.directory + "/strangers", for: ["admin"])
            let stranger = try h.connection("admin", identities: ServiceIdentities(directory: strangers.directory))
            let options: CallOptions = {
                var options = CallOptions.defaults
                options.timeout = .seconds(3)
                return options
            }()
            let rejected = await refusal { _ = try await call(stranger) { try await $0.signCertificate(message, options: options) } }
            #expect(rejected != nil, "a stranger's certificate must fail the handshake")
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'issued'", h.url) == 0)
        }
    }

    @Test("the signer signs a leaf only for a pending reservation it matches; stores it with an audit row naming the verified caller")
    func checksBeforeSigning() async throws {
        try await withSigner { h in
            let admin = try h.connection("admin")
            try await call(admin) { signer in
                // no reservation row → refused
                let orphan = await refusal { _ = try await signer.signCertificate(request(try LeafRequest().tbs(h.issuer))) }
                #expect(orphan?.refusal == "no_reservation")

                // a serial with less than 64 bits → refused
                var weak = LeafRequest()
                weak.serial = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]
                let weakID = try await reserve(h, weak)
                #expect(await refusal { _ = try await signer.signCertificate(request(try weak.tbs(h.issuer), certificateID: weakID)) }?
                    .refusal == "serial_invalid")

                // an oversized message is refused before it is parsed
                let huge = await refusal {
                    _ = try await signer.signCertificate(request([UInt8](repeating: 0x30, count: 20_000), certificateID: UUID()))
                }
                #expect(huge?.refusal == "message_too_large")

                // a good request: signed, verifies under the CA, stored as issued, audited under certctl-admin
                let good = LeafRequest()
                let id = try await reserve(h, good)
                let response = try await signer.signCertificate(request(try good.tbs(h.issuer), certificateID: id))
                let certificate = try Certificate(derEncoded: Array(response.certificate))
                #expect(h.issuer.publicKey.isValidSignature(certificate.signature, for: certificate))
                #expect(try await TestEnvironment.scalar(
                    "SELECT count(*) FROM certificates WHERE id = '\(id.uuidString.lowercased())' AND status = 'issued' AND certificate_der IS NOT NULL",
                    h.url) == 1)
                #expect(try await TestEnvironment.scalar("""
                    SELECT count(*) FROM audit_events WHERE action = 'certificate.issue' AND actor = 'certctl-admin'
                    AND details->>'requested_by' = 'tests' AND target_id = '\(id.uuidString.lowercased())'
                    """, h.url) == 1)
                // the same reservation cannot be signed twice
                let again = await refusal { _ = try await signer.signCertificate(request(try good.tbs(h.issuer), certificateID: id)) }
                #expect(again?.refusal == "no_reservation")
            }
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM audit_events WHERE service = 'signer' AND outcome = 'failure'", h.url) == 4)
            #expect(try await TestEnvironment.scalar(
                "SELECT count(*) FROM certificates WHERE status = 'issued'", h.url) == 1, "refusals signed nothing")
        }
    }

    @Test("attack: the enroll identity cannot get a leaf signed whose subject, SANs or key differ from the reserved request, nor use a profile no enrollment endpoint uses")
    func compromisedEnroll() async throws {
        try await withSigner { h in
            let enroll = try h.connection("enroll")
            // an EST label makes profile 'default' an enrollment profile for iss-local; 'internal' is used by none
            try await TestEnvironment.execute(["""
                INSERT INTO profiles (id, allowed_key_algorithms, max_validity_days, extended_key_usages, allowed_san_types)
                VALUES ('internal', '{ecdsa-p256}', 90, '{serverAuth}', '{dns}')
                """, "INSERT INTO est_labels (name, issuer_id, profile_id) VALUES ('devices', 'iss-local', 'default')"], h.url)
            try await call(enroll) { signer in
                let reserved = LeafRequest(hostname: "device-1.example.com")
                let id = try await reserve(h, reserved)
                var attacks: [(String, LeafRequest)] = []
                var other = reserved
                other.hostname = "bank.example.com"
                other.sans = [.dnsName("device-1.example.com")]
                attacks.append(("another subject", other))
                other = reserved
                other.sans = [.dnsName("device-1.example.com"), .dnsName("login.example.com")]
                attacks.append(("an extra SAN", other))
                other = reserved
                other.key = P256Key()
                attacks.append(("another public key", other))
                other = reserved
                other.notAfter = Date().addingTimeInterval(86_400 * 40)
                attacks.append(("another validity", other))
                for (what, attack) in attacks {
                    let refused = await refusal { _ = try await signer.signCertificate(request(try attack.tbs(h.issuer), certificateID: id)) }
                    #expect(refused?.refusal == "reservation_mismatch", "\(what)")
                }
                // the reserved request itself is signed
                _ = try await signer.signCertificate(request(try reserved.tbs(h.issuer), certificateID: id))

                let internalRequest = LeafRequest(hostname: "db.internal.example.com")
                let internalID = try await reserve(h, internalRequest, profile: "internal")
                var message = request(try internalRequest.tbs(h.issuer), certificateID: internalID)
                message.profileID = "internal"
                #expect(await refusal { _ = try await signer.signCertificate(message) }?.refusal == "profile_not_allowed_for_caller")
            }
            #expect(try await TestEnvironment.scalar("SELECT count(*) FROM certificates WHERE status = 'issued'", h.url) == 1)
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE actor = 'certctl-enroll' AND outcome = 'failure'
                AND error_code IN ('reservation_mismatch', 'profile_not_allowed_for_caller')
                """, h.url) == 5)
        }
    }

    /// Streams `tbs` in pieces of `piece` bytes; nil when signed (and the signature verifies), else the refusal code.
    @Sendable static func stream(
        _ tbs: [UInt8], piece: Int, generation: UInt32 = 0, cut: Int64 = 0, issuer: Certificate,
        _ signer: SignerRPC.Client<HTTP2ClientTransportPosix>
    ) async throws -> String? {
        do {
            let response = try await signer.signCRLStream(requestProducer: { writer in
                var offset = 0
                repeat {
                    var chunk = Certctl_Signer_V1_SignCRLChunk()
                    if offset == 0 { chunk.issuerID = "iss-local"; chunk.issuerGeneration = generation; chunk.coveredChangeSeq = cut }
                    chunk.tbsPart = Data(tbs[offset..<min(offset + piece, tbs.count)])
                    try await writer.write(chunk)
                    offset += piece
                } while offset < tbs.count
            })
            #expect(issuer.publicKey.isValidSignature(Array(response.signature), for: tbs, signatureAlgorithm: .ecdsaWithSHA256))
            return nil
        } catch let error as RPCError {
            return RefusalTrailer.read(error) ?? "none: \(error)"
        }
    }

    @Test("SignCRLStream: pieces of any size sign the same; the number must grow by a small step; another generation and garbage are refused; each signature is audited with number, count and digest")
    func crlStream() async throws {
        try await withSigner { h in
            let crl = try h.connection("crl")
            let issuer = h.issuer
            let results: [String?] = try await call(crl) { signer in
                [try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 7), piece: 1, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 8), piece: 1 << 20, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 8), piece: 13, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 5), piece: 13, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 9), piece: 13, generation: 9, issuer: issuer, signer),
                 try await Self.stream([0x30, 0x03, 0x02, 0x01, 0x01], piece: 2, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 8 + 101), piece: 4096, issuer: issuer, signer),
                 try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 8 + 100), piece: 4096, issuer: issuer, signer)]
            }
            #expect(results == [nil, nil, "crl_number_not_increasing", "crl_number_not_increasing", "issuer_mismatch", "malformed_tbs",
                                "crl_number_step_too_large", nil])
            #expect(try await TestEnvironment.scalar("SELECT last_crl_number::int FROM issuer_generations WHERE issuer_id = 'iss-local' AND status = 'active'", h.url) == 108)
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE action = 'crl.sign' AND actor = 'certctl-crl' AND outcome = 'success'
                AND details->>'entries' = '0' AND length(details->>'entries_sha256') = 64
                """, h.url) == 3)
        }
    }

    @Test("attack: the crl identity cannot get signed an empty CRL that hides revocations, a CRL valid for ten years, a CRL numbered 2^158, or a CRL with a revocation added")
    func compromisedCRL() async throws {
        try await withSigner { h in
            let crl = try h.connection("crl")
            let issuer = h.issuer
            // two revoked certificates, recorded ten minutes ago
            var entries: [RevokedEntry] = []
            for hostname in ["a.example.com", "b.example.com"] {
                let leaf = LeafRequest(hostname: hostname)
                let id = try await reserve(h, leaf)
                let hex = try #require(SerialNumber.canonicalHex(ofDERInteger: leaf.serial[...]))
                try await TestEnvironment.execute([
                    "UPDATE certificates SET status = 'revoked', certificate_der = '\\x00' WHERE id = '\(id.uuidString.lowercased())'",
                    """
                    INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
                    VALUES ('\(id.uuidString.lowercased())', 'iss-local', '\(hex)', 1, to_timestamp(1795000000), 'tests')
                    """,
                    // recorded ten minutes ago (the trigger stamps changed_at on UPDATE; set it afterwards without one)
                    "ALTER TABLE certificate_revocations DISABLE TRIGGER certificate_revocations_changed",
                    "UPDATE certificate_revocations SET changed_at = now() - interval '10 minutes'",
                    "ALTER TABLE certificate_revocations ENABLE TRIGGER certificate_revocations_changed",
                ], h.url)
                entries.append(RevokedEntry(serialHex: hex, revokedAt: 1_795_000_000, reasonCode: 1, invalidityDate: nil))
            }
            let sorted = entries.sorted { Array($0.serialHex.utf8).lexicographicallyPrecedes(Array($1.serialHex.utf8)) }
            let cut = Int64(try #require(try await TestEnvironment.scalar("SELECT max(change_seq) FROM certificate_revocations", h.url)))
            let now = Int64(Date().timeIntervalSince1970)
            let results: [String?] = try await call(crl) { signer in
                let decoy = RevokedEntry(serialHex: "1234567890abcdef1234", revokedAt: 1_795_000_000, reasonCode: 1, invalidityDate: nil)
                return [
                    // empty, with the true cut: hides both revocations
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1), piece: 4096, cut: cut, issuer: issuer, signer),
                    // empty, claiming to have read nothing (cut 0): the revocations are older than the allowed staleness
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1), piece: 4096, cut: 0, issuer: issuer, signer),
                    // a cut beyond the log
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1, entries: sorted), piece: 4096, cut: cut + 1000,
                                          issuer: issuer, signer),
                    // one revocation replaced by a good certificate's serial
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1, entries: [sorted[0], decoy].sorted {
                        Array($0.serialHex.utf8).lexicographicallyPrecedes(Array($1.serialHex.utf8)) }), piece: 4096, cut: cut, issuer: issuer, signer),
                    // the right entries, but nextUpdate ten years ahead
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1, entries: sorted, validity: 10 * 365 * 86_400),
                                          piece: 4096, cut: cut, issuer: issuer, signer),
                    // the right entries, thisUpdate a day old
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1, entries: sorted, thisUpdate: now - 86_400),
                                          piece: 4096, cut: cut, issuer: issuer, signer),
                    // the right entries, number 2^158: no later CRL could ever be signed
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, numberBytes: [0x40] + Array(repeating: 0, count: 19), entries: sorted),
                                          piece: 4096, cut: cut, issuer: issuer, signer),
                    // the true CRL is signed
                    try await Self.stream(try Self.tbsCertList(issuer: issuer, number: 1, entries: sorted), piece: 4096, cut: cut,
                                          issuer: issuer, signer),
                ]
            }
            #expect(results == ["crl_contents_mismatch", "crl_contents_mismatch", "crl_contents_mismatch", "crl_contents_mismatch",
                                "crl_time_invalid", "crl_time_invalid", "crl_number_step_too_large", nil])
            #expect(try await TestEnvironment.scalar("SELECT last_crl_number::int FROM issuer_generations WHERE issuer_id = 'iss-local' AND status = 'active'", h.url) == 1)
            #expect(try await TestEnvironment.scalar("""
                SELECT count(*) FROM audit_events WHERE actor = 'certctl-crl' AND action = 'signer.SignCRL' AND outcome = 'failure'
                """, h.url) == 7)
        }
    }

    /// A v2 TBSCertList as certctl-crl writes it (AKI, CRL Number), signed with ecdsa-with-SHA256.
    static func tbsCertList(
        issuer: Certificate, number: Int = 1, numberBytes: [UInt8]? = nil, entries: [RevokedEntry] = [],
        thisUpdate: Int64 = Int64(Date().timeIntervalSince1970), validity: Int64 = 4 * 3600
    ) throws -> [UInt8] {
        var writer = try TBSCertListWriter(header: CRLHeader(
            signatureAlgorithmDER: try SignatureAlgorithmIdentifier.der(.ecdsaWithSHA256),
            issuerNameDER: try ReservationFields.subjectDER(issuer.subject), thisUpdate: thisUpdate, nextUpdate: thisUpdate + validity,
            crlNumber: numberBytes ?? DERWriter.magnitude(decimal: "\(number)")!,
            authorityKeyIdentifier: Array(try TBSCertificateBuilder.issuerKeyIdentifier(issuer))))
        for entry in entries { try writer.append(entry) }
        return Array(buffer: writer.finish().tbs)
    }
}

import Crypto
import GRPCNIOTransportHTTP2

typealias HTTP2ClientTransportPosix = HTTP2ClientTransport.Posix

/// A throwaway P-256 key for TBS subjects.
struct P256Key {
    let key = P256.Signing.PrivateKey()
    var publicKey: Certificate.PublicKey { Certificate.PublicKey(key.publicKey) }
}
