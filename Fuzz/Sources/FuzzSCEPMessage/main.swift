import CertctlPKI
import FuzzPKISupport
import FuzzSupport
import X509

/// A SCEP PKIOperation body as SCEPResponder reads it: parse the pkiMessage,
/// check its signature, open the envelope with the RA key (the fixture RA the
/// captured client messages in the seed corpus are addressed to), then read
/// the messageData its type announces.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSCEPMessage(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    guard let message = try? SCEPPKIMessage.parse(bytes) else { return 0 }
    fuzzCheck(message.senderNonce.count == 16, "senderNonce length")
    _ = message.contentEncryptionAlgorithm
    _ = message.contentCipher()
    guard let inner = try? message.open(with: FuzzFixture.ra) else { return 0 }
    switch message.messageType {
    case .pkcsReq, .renewalReq:
        if let csr = try? CertificateSigningRequest(derEncoded: inner) { CSRChecks.run(csr) }
    case .certPoll:
        _ = try? SCEPIssuerAndSubject.parse(inner)
    default:
        break
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    fuzzInitializeFixtures()
}
