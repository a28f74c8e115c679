import CertctlPKI
import FuzzSupport

/// certctl's CRL readers: CertificateListFields (a whole DER CRL), and on its
/// TBSCertList (or on the raw input, as the signer receives a TBS over RPC)
/// TBSCertListFields, TBSCertListSummary and CRLEntryDigest.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCRL(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    _ = TBSCertListSummary.encodedLength(prefix: Array(bytes.prefix(6)))
    if let list = try? CertificateListFields(derEncoded: bytes) {
        fuzzCheck(list.tbsRange.lowerBound >= 0 && list.tbsRange.upperBound <= bytes.count, "tbsRange inside the input")
        readTBS(Array(bytes[list.tbsRange]))
    } else {
        readTBS(bytes)
    }
    return 0
}

func readTBS(_ tbs: [UInt8]) {
    let fields = try? TBSCertListFields(tbs)
    if let summary = try? TBSCertListSummary(derEncoded: tbs), let number = summary.crlNumber {
        let decimal = TBSCertListSummary.decimal(number)
        fuzzCheck(!decimal.isEmpty && decimal.allSatisfy(\.isNumber), "CRL number decimal text")
    }
    if let digest = try? CRLEntryDigest(tbsCertList: tbs), let fields {
        fuzzCheck(digest.count == fields.revokedCount, "entry count: digest \(digest.count), fields \(fields.revokedCount)")
    }
}
