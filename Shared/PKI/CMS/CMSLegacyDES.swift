import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// DES-CBC and DES-EDE3-CBC for old SCEP clients (micromdm's scepclient 2.1
/// in Debian always envelopes with single DES). swift-crypto has no DES, so
/// this calls the system OpenSSL libcrypto (libcrypto.so.3, present wherever
/// the `openssl` tool is) through dlopen; where it is missing, DES stays
/// unsupported and such envelopes are refused with badAlg.
enum LegacyDES {
    private typealias SetKey = @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void
    private typealias NCBC = @convention(c) (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>, Int, UnsafeMutableRawPointer,
                                             UnsafeMutableRawPointer, Int32) -> Void
    private typealias EDE3 = @convention(c) (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>, Int, UnsafeMutableRawPointer,
                                             UnsafeMutableRawPointer, UnsafeMutableRawPointer, UnsafeMutableRawPointer, Int32) -> Void

    private struct Functions: @unchecked Sendable {
        let setKey: SetKey
        let ncbc: NCBC
        let ede3: EDE3
    }

    private static let functions: Functions? = {
        for name in ["libcrypto.so.3", "libcrypto.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let setKey = dlsym(handle, "DES_set_key_unchecked"), let ncbc = dlsym(handle, "DES_ncbc_encrypt"),
                  let ede3 = dlsym(handle, "DES_ede3_cbc_encrypt") else { continue }
            return Functions(setKey: unsafeBitCast(setKey, to: SetKey.self), ncbc: unsafeBitCast(ncbc, to: NCBC.self),
                             ede3: unsafeBitCast(ede3, to: EDE3.self))
        }
        return nil
    }()

    static var isAvailable: Bool { functions != nil }

    /// DES_key_schedule is 16 × 8 bytes.
    private static let scheduleSize = 128

    /// CBC with PKCS#7 padding; `key` is 8 (DES) or 24 (EDE3) bytes, `iv` 8 bytes.
    static func crypt(_ input: [UInt8], key: [UInt8], iv: [UInt8], encrypt: Bool) throws(CMSError) -> [UInt8] {
        guard let functions else { throw .unsupportedAlgorithm("DES needs the system libcrypto (libcrypto.so.3), which is not installed") }
        guard iv.count == 8, key.count == 8 || key.count == 24 else { throw .decryptionFailed("DES key or IV has the wrong length") }
        var data = input
        if encrypt {
            let pad = 8 - data.count % 8
            data += [UInt8](repeating: UInt8(pad), count: pad)
        } else {
            guard !data.isEmpty, data.count % 8 == 0 else { throw .decryptionFailed("DES ciphertext is not a whole number of blocks") }
        }
        var output = [UInt8](repeating: 0, count: data.count)
        var ivec = iv
        var schedules = [UInt8](repeating: 0, count: scheduleSize * 3)
        key.withUnsafeBytes { keyBytes in
            schedules.withUnsafeMutableBytes { ks in
                for index in 0..<(key.count / 8) {
                    functions.setKey(keyBytes.baseAddress! + index * 8, ks.baseAddress! + index * scheduleSize)
                }
            }
        }
        data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                schedules.withUnsafeMutableBytes { ks in
                    ivec.withUnsafeMutableBytes { ivp in
                        if key.count == 8 {
                            functions.ncbc(input.baseAddress!, out.baseAddress!, data.count, ks.baseAddress!, ivp.baseAddress!, encrypt ? 1 : 0)
                        } else {
                            functions.ede3(input.baseAddress!, out.baseAddress!, data.count, ks.baseAddress!,
                                           ks.baseAddress! + scheduleSize, ks.baseAddress! + 2 * scheduleSize, ivp.baseAddress!,
                                           encrypt ? 1 : 0)
                        }
                    }
                }
            }
        }
        if encrypt { return output }
        guard let pad = output.last, (1...8).contains(pad), output.suffix(Int(pad)).allSatisfy({ $0 == pad }) else {
            throw .decryptionFailed("DES decryption failed (bad padding)")
        }
        return Array(output.dropLast(Int(pad)))
    }
}
