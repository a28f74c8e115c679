import CertctlPKI
import FuzzPKISupport
import FuzzSupport
import X509

/// A CSR as issuance reads it (IssuanceService.validate): the admin API's
/// csr_pem. Input starting with "-----" is PEM text as a client sent it;
/// anything else is DER, wrapped in PEM the way a client would. The SPKI
/// probe runs on every input, as it does when swift-certificates refuses one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSR(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    let pem = bytes.starts(with: Array("-----".utf8)) ? String(decoding: bytes, as: UTF8.self) : PEM.certificateRequest(bytes)
    _ = CSRKeyProbe.describeKey(pem: pem)
    guard let csr = try? PEM.csr(pem) else { return 0 }
    CSRChecks.run(csr)
    return 0
}
