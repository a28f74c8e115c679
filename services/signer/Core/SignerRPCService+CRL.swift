import CertctlConfig
import CertctlPKI
import CertctlRPC
import CertctlStore
import Foundation
import GRPCCore
import Metrics

extension SignerRPCService {
    /// The largest TBSCertList the stream accepts.
    static let maxStreamedTBSBytes = 256 << 20

    /// A TBSCertList in pieces. While the pieces arrive the signer reads the
    /// revocation log itself; it signs only if the CRL's times, number step
    /// and entries agree with that read, and records the number, count and
    /// digest with an audit row before it signs.
    func signCRLStream(
        request: RPCAsyncSequence<Certctl_Signer_V1_SignCRLChunk, any Error>, context: ServerContext
    ) async throws -> Certctl_Signer_V1_SignCRLResponse {
        let caller = try await authorise("SignCRL", context: context)
        var issuerID = "", generation: UInt32 = 0, cut: Int64 = 0
        var tbs: [UInt8] = []
        var expected: Task<ExpectedCRL?, any Error>?
        defer { expected?.cancel() }
        do {
            try clock.check()
            for try await chunk in request {
                if expected == nil {
                    issuerID = chunk.issuerID
                    generation = chunk.issuerGeneration
                    cut = chunk.coveredChangeSeq
                    // Postgres digests the expected entries while the rest arrives; awaited below, cancelled on any exit.
                    let store = self.store, issuer = issuerID, cutoff = cut, stale = crlRules.staleAfter
                    let generationNumber = Int(generation == 0 ? UInt32(keyring.activeCA(issuer)?.generation ?? 0) : generation)
                    expected = Task {
                        try await store.expectedCRL(issuerID: issuer, generation: generationNumber, cut: cutoff, staleAfter: stale)
                    }
                    // The DER header of the first piece tells the whole length: reserve it once.
                    if let length = TBSCertListSummary.encodedLength(prefix: Array(chunk.tbsPart.prefix(8))),
                       length <= Self.maxStreamedTBSBytes {
                        tbs.reserveCapacity(length)
                    }
                }
                guard tbs.count + chunk.tbsPart.count <= Self.maxStreamedTBSBytes else {
                    throw SigningRefusal.messageTooLarge("the TBSCertList exceeds \(Self.maxStreamedTBSBytes) bytes")
                }
                tbs.append(contentsOf: chunk.tbsPart)
            }
            guard let expected else { throw SigningRefusal.malformed("the stream carried no TBSCertList") }
            return try await signCRL(issuerID: issuerID, generation: generation, cut: cut, tbs: tbs, expected: expected,
                                     caller: caller)
        } catch let refusal as SigningRefusal {
            throw await refuse(refusal, operation: "SignCRL", caller: caller, targetType: "issuer", target: issuerID,
                               details: ["issuer_generation": "\(generation)", "covered_change_seq": "\(cut)"])
        }
    }

    private func signCRL(
        issuerID: String, generation requested: UInt32, cut: Int64, tbs: [UInt8], expected: Task<ExpectedCRL?, any Error>,
        caller: ServiceIdentity
    ) async throws -> Certctl_Signer_V1_SignCRLResponse {
        guard let (generation, ca) = keyring.resolve(issuerID, generation: requested) else {
            throw SigningRefusal.issuerMismatch("this signer holds no key for issuer \(issuerID) generation \(requested)")
        }
        let fields: TBSCertListFields
        let entries: CRLEntryDigest
        do {
            fields = try TBSCertListFields(tbs)
            entries = try CRLEntryDigest(tbsCertList: tbs)
        } catch {
            throw SigningRefusal.malformed("\(error)")
        }
        let status = keyring.status(issuerID, generation: generation)
        guard status != .pending else {
            throw SigningRefusal.issuerMismatch("generation \(generation) of issuer \(issuerID) is pending: it signs nothing yet")
        }
        let number = try CRLPolicy.checkHeader(fields, ca: ca, rules: crlRules, now: Date(), final: status == .archived)
        guard let read = try await expected.value else {
            throw SigningRefusal.issuerMismatch("issuer \(issuerID) does not exist")
        }
        // The caller gave up (its deadline passed) while the read ran: record no CRL number for a
        // signature nobody will receive, or its retry would be refused as not increasing.
        try Task.checkCancellation()
        try CRLPolicy.checkContents(entries, expected: read, cut: cut, rules: crlRules)
        let outcome = try await store.recordCRL(
            issuerID: issuerID, generation: generation, number: number, thisUpdate: fields.thisUpdate,
            maxStep: crlRules.maxNumberStep,
            audit: AuditRecord(service: "signer", actor: "\(caller)", action: "crl.sign", outcome: .success,
                               targetType: "issuer", targetID: issuerID,
                               details: ["issuer_generation": "\(generation)", "crl_number": number,
                                         "entries": "\(entries.count)", "entries_sha256": Hex.string(entries.sha256),
                                         "this_update": "\(Int64(fields.thisUpdate.timeIntervalSince1970))",
                                         "next_update": "\(Int64(fields.nextUpdate?.timeIntervalSince1970 ?? 0))",
                                         "covered_change_seq": "\(cut)", "final": "\(status == .archived)"]))
        switch outcome {
        case .recorded: break
        case .notIncreasing(let last):
            throw SigningRefusal.crlNumber("CRL number \(number) is not greater than the last one signed for \(issuerID) (\(last))")
        case .stepTooLarge(let last):
            throw SigningRefusal.crlNumberStep("CRL number \(number) exceeds the last one signed for \(issuerID) (\(last)) by more than \(crlRules.maxNumberStep)")
        }
        let signature = try await signer.sign(tbs, issuerID: issuerID, generation: generation)
        Counter(label: "certctl_signer_signatures_total", dimensions: [("kind", "SignCRL")]).increment()
        var response = Certctl_Signer_V1_SignCRLResponse()
        response.signature = Data(signature)
        return response
    }
}
