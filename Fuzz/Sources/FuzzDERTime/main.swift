import CertctlPKI
import FuzzSupport

/// DERTime.parse, certctl's own UTCTime/GeneralizedTime reader (CRL entries,
/// thisUpdate/nextUpdate, invalidityDate). The first input byte picks the tag
/// (even: UTCTime, odd: GeneralizedTime), the rest is the content. A time that
/// parses must survive DERTime's writers: encode it again and read it back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDERTime(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzInput(start, count)
    guard let first = bytes.first else { return 0 }
    let tag: UInt8 = first % 2 == 0 ? 0x17 : 0x18
    guard let seconds = DERTime.parse(tag: tag, Array(bytes.dropFirst())) else { return 0 }
    var time: [UInt8] = []
    DERTime.appendTime(seconds, to: &time)
    fuzzCheck(time.count == DERTime.encodedSize(seconds), "encodedSize")
    fuzzCheck(DERTime.parse(tag: time[0], Array(time.dropFirst(2))) == seconds, "Time round trip of \(seconds)")
    var generalized: [UInt8] = []
    DERTime.appendGeneralizedTime(seconds, to: &generalized)
    fuzzCheck(DERTime.parse(tag: 0x18, Array(generalized.dropFirst(2))) == seconds, "GeneralizedTime round trip of \(seconds)")
    return 0
}
