import CertctlPKI
import FuzzPKISupport
import FuzzSupport

/// CMS ContentInfo as SCEP hands it to the CMS layer: SignedData (parse and
/// verify the single signer) and EnvelopedData (parse, then open it with the
/// fixture RA key: key transport with implicit rejection, then the content cipher).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCMS(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    if let signed = try? CMS.signedData(bytes) {
        _ = try? CMS.verify(signed)
        return 0
    }
    if let enveloped = try? CMS.envelopedData(bytes) {
        _ = try? CMS.open(enveloped, recipient: FuzzFixture.ra.certificate, key: FuzzFixture.ra.decryptionKey)
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    fuzzInitializeFixtures()
}
