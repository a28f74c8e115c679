import Foundation
import SwiftASN1
import X509

/// The fields of a DER TBSCertList that certctl checks: the signer before
/// signing one, the publisher before serving a cached CRL. Entries are only
/// walked (counted and shape-checked), never decoded into nodes.
///
///     TBSCertList  ::=  SEQUENCE  {
///          version                 Version OPTIONAL, -- if present, MUST be v2
///          signature               AlgorithmIdentifier,
///          issuer                  Name,
///          thisUpdate              Time,
///          nextUpdate              Time OPTIONAL,
///          revokedCertificates     SEQUENCE OF SEQUENCE { ... } OPTIONAL,
///          crlExtensions           [0]  EXPLICIT Extensions OPTIONAL }
public struct TBSCertListFields: Sendable {
    public let signatureAlgorithmDER: [UInt8]
    public let issuerNameDER: [UInt8]
    public let thisUpdate: Date
    public let nextUpdate: Date?
    /// CRL Number extension (INTEGER content octets), if present.
    public let crlNumber: [UInt8]?
    public let authorityKeyIdentifier: [UInt8]?
    public let revokedCount: Int

    public static let crlNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]

    public init(_ bytes: [UInt8], range: Range<Int>? = nil) throws(PKIError) {
        var outer = DERReader(bytes, range: range)
        let sequence = try outer.next(DERWriter.sequence, "TBSCertList")
        guard outer.isAtEnd else { throw PKIError.malformedTBS("bytes after the TBSCertList") }
        var reader = outer.inside(sequence)
        if reader.peekTag() == DERWriter.integer {
            let version = try reader.next()
            guard bytes[version.content] == [1] else { throw PKIError.malformedTBS("CRL version must be v2") }
        }
        signatureAlgorithmDER = Array(bytes[try reader.next(DERWriter.sequence, "signature algorithm").range])
        issuerNameDER = Array(bytes[try reader.next(DERWriter.sequence, "issuer").range])
        thisUpdate = try Self.time(bytes, try reader.next())
        var next: Date?
        if let tag = reader.peekTag(), tag == DERWriter.utcTime || tag == DERWriter.generalizedTime {
            next = try Self.time(bytes, try reader.next())
        }
        nextUpdate = next
        var count = 0
        if reader.peekTag() == DERWriter.sequence {
            var entries = reader.inside(try reader.next())
            while !entries.isAtEnd {
                var entry = entries.inside(try entries.next(DERWriter.sequence, "revoked entry"))
                _ = try entry.next(DERWriter.integer, "revoked entry serial")
                let time = try entry.next()
                guard time.tag == DERWriter.utcTime || time.tag == DERWriter.generalizedTime else {
                    throw PKIError.malformedTBS("revoked entry date")
                }
                count += 1
            }
        }
        revokedCount = count
        var number: [UInt8]?
        var keyIdentifier: [UInt8]?
        if !reader.isAtEnd {
            let wrapper = try reader.next(0xa0, "crlExtensions")
            guard reader.isAtEnd else { throw PKIError.malformedTBS("fields after crlExtensions") }
            do {
                let node = try DER.parse(Array(bytes[wrapper.content]))
                guard node.identifier == .sequence, case .constructed(let children) = node.content else {
                    throw PKIError.malformedTBS("crlExtensions is not a SEQUENCE")
                }
                let extensions = try Certificate.Extensions(children.map { try Certificate.Extension(derEncoded: $0) })
                if let ext = extensions.first(where: { $0.oid == Self.crlNumberOID }) {
                    let integer = try DER.parse(ext.value)
                    guard integer.identifier == ASN1Identifier.integer, case .primitive(let content) = integer.content else {
                        throw PKIError.malformedTBS("CRL Number is not an INTEGER")
                    }
                    number = Array(content)
                }
                if let aki = try extensions.authorityKeyIdentifier, let id = aki.keyIdentifier { keyIdentifier = Array(id) }
            } catch let error as PKIError {
                throw error
            } catch {
                throw PKIError.malformedTBS("crlExtensions: \(error)")
            }
        }
        crlNumber = number
        authorityKeyIdentifier = keyIdentifier
    }

    static func time(_ bytes: [UInt8], _ element: DERReader.Element) throws(PKIError) -> Date {
        guard let seconds = DERTime.parse(tag: element.tag, Array(bytes[element.content])) else {
            throw PKIError.malformedTBS("bad Time")
        }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

/// A complete DER CertificateList: its TBS fields, outer algorithm and signature.
public struct CertificateListFields: Sendable {
    public let tbs: TBSCertListFields
    public let tbsRange: Range<Int>
    public let signatureAlgorithmDER: [UInt8]
    public let signature: [UInt8]

    public init(derEncoded bytes: [UInt8]) throws(PKIError) {
        var outer = DERReader(bytes)
        let list = try outer.next(DERWriter.sequence, "CertificateList")
        guard outer.isAtEnd else { throw PKIError.malformedTBS("bytes after the CertificateList") }
        var reader = outer.inside(list)
        let tbsElement = try reader.next(DERWriter.sequence, "tbsCertList")
        tbs = try TBSCertListFields(bytes, range: tbsElement.range)
        tbsRange = tbsElement.range
        signatureAlgorithmDER = Array(bytes[try reader.next(DERWriter.sequence, "signatureAlgorithm").range])
        let bits = try reader.next(DERWriter.bitString, "signatureValue")
        guard reader.isAtEnd, bits.content.count >= 2, bytes[bits.content.lowerBound] == 0 else {
            throw PKIError.malformedTBS("signatureValue")
        }
        signature = Array(bytes[(bits.content.lowerBound + 1)..<bits.content.upperBound])
    }

    /// Whether `issuer`'s key made this signature over the TBS with the declared algorithm.
    public func isSigned(by issuer: Certificate, bytes: [UInt8]) -> Bool {
        guard signatureAlgorithmDER == tbs.signatureAlgorithmDER,
              let algorithm = SignatureAlgorithmIdentifier.algorithm(fromDER: signatureAlgorithmDER) else { return false }
        return issuer.publicKey.isValidSignature(signature, for: bytes[tbsRange], signatureAlgorithm: algorithm)
    }
}
