import Foundation
import SwiftASN1
import X509

public enum PEM {
    public static func certificate(_ der: [UInt8]) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n"
    }

    public static func crl(_ der: [UInt8]) -> String {
        PEMDocument(type: "X509 CRL", derBytes: der).pemString + "\n"
    }

    public static func certificateRequest(_ der: [UInt8]) -> String {
        PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).pemString + "\n"
    }

    /// Parses one PEM or (as a fallback) DER certificate signing request.
    public static func csr(_ text: String) throws -> CertificateSigningRequest {
        try CertificateSigningRequest(pemEncoded: text)
    }
}

extension PEM {
    static let crlHeader = Array("-----BEGIN X509 CRL-----\n".utf8)
    static let crlFooter = Array("-----END X509 CRL-----\n".utf8)

    /// Octets of `PEM.crl` for a DER of `derCount` octets: 64-character base64 lines, each ending in "\n".
    public static func crlLength(derCount: Int) -> Int {
        let base64 = (derCount + 2) / 3 * 4
        return crlHeader.count + base64 + (base64 + 63) / 64 + crlFooter.count
    }

    /// `PEM.crl(der)` in pieces of about 64 KiB, so a large CRL is rendered as it is sent
    /// instead of as one string (three copies of a 50 MB CRL per request).
    public static func crlPieces<Bytes: RandomAccessCollection & Sendable>(_ der: Bytes) -> CRLPieces<Bytes>
    where Bytes.Element == UInt8, Bytes.Index == Int {
        CRLPieces(der: der)
    }

    public struct CRLPieces<Bytes: RandomAccessCollection & Sendable>: Sequence, Sendable
    where Bytes.Element == UInt8, Bytes.Index == Int {
        let der: Bytes
        /// 1,024 lines of 48 DER octets: every piece but the last ends on a whole line.
        static var pieceBytes: Int { 48 * 1024 }

        public func makeIterator() -> AnyIterator<[UInt8]> {
            var offset = der.startIndex
            var state = 0  // 0 header, 1 body, 2 footer, 3 done
            return AnyIterator {
                switch state {
                case 0:
                    state = der.isEmpty ? 2 : 1
                    return PEM.crlHeader
                case 1:
                    let end = Swift.min(offset + Self.pieceBytes, der.endIndex)
                    let text = Array(Data(der[offset..<end]).base64EncodedString().utf8)
                    var piece: [UInt8] = []
                    piece.reserveCapacity(text.count + text.count / 64 + 1)
                    var line = 0
                    while line < text.count {
                        piece.append(contentsOf: text[line..<Swift.min(line + 64, text.count)])
                        piece.append(0x0a)
                        line += 64
                    }
                    offset = end
                    if offset == der.endIndex { state = 2 }
                    return piece
                case 2:
                    state = 3
                    return PEM.crlFooter
                default:
                    return nil
                }
            }
        }
    }
}
