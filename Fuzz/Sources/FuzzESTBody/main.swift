import CertctlPKI
import Foundation
import FuzzPKISupport
import FuzzSupport
import X509

/// An EST simpleenroll/simplereenroll body as ESTRoutes.readCSR reads it
/// (RFC 7030 §4.2.1: base64 of a DER PKCS#10, whitespace allowed), then what
/// issuance does with the CSR. The two decoding lines are ESTRoutes' own.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzESTBody(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    guard let der = Data(base64Encoded: String(decoding: bytes, as: UTF8.self), options: .ignoreUnknownCharacters), !der.isEmpty,
          let csr = try? CertificateSigningRequest(derEncoded: Array(der)) else { return 0 }
    CSRChecks.run(csr)
    return 0
}
