import CertctlPKI
import FuzzSupport

/// certctl-ocsp's request parser (OCSPResponderCore.answer): DER from a POST
/// body or a GET path. A request that parses must re-encode to one that parses
/// to the same CertIDs and nonce (the responder echoes both in its answer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCSPRequest(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    guard let request = try? OCSPRequest.parse(bytes) else { return 0 }
    fuzzCheck(!request.certIDs.isEmpty && request.certIDs.count <= OCSPRequest.maximumCertIDs, "CertID count")
    for id in request.certIDs {
        fuzzCheck(id.issuerNameHash.count == id.hashAlgorithm.digestLength, "issuerNameHash length")
        _ = id.serialHex
    }
    guard let encoded = try? request.serializedBytes else {
        fuzzCheck(false, "a parsed OCSP request does not serialize")
        return 0
    }
    fuzzCheck((try? OCSPRequest.parse(encoded)) == request, "OCSP request round trip")
    return 0
}
