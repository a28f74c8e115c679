import CertctlPKI
import Foundation
import X509

/// Files next to the tests (the SCEP RA and its key, made for tests only).
public enum FuzzFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func text(_ path: String) -> String {
        let url = root.appendingPathComponent(path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { fatalError("fuzz fixture missing: \(url.path)") }
        return text
    }

    /// The RA every captured SCEP message (Tests/Fixtures/scep) is enveloped to.
    public static let ra: SCEPRAIdentity = {
        do {
            return try SCEPRAIdentity(certificate: try Certificate(pemEncoded: text("Tests/Fixtures/scep/ra.crt")),
                                      keyPEM: text("Tests/Fixtures/scep/ra.key"))
        } catch {
            fatalError("fuzz fixture RA: \(error)")
        }
    }()
}

/// What issuance does with a CSR once it parses (IssuanceService.validate): the
/// signature, the extension request's SANs and the profile checks on key and SANs.
public enum CSRChecks {
    static let profile = CertificateProfile(
        id: "fuzz", description: "fuzz", allowedKeyAlgorithms: [.rsa2048, .ecdsaP256], maxValidityDays: 365,
        extendedKeyUsages: [.serverAuth], allowedSANTypes: CertificateProfile.SANType.allCases,
        sanPatterns: ["*.example.com", "host-*.example.org", "*@*.example.com", "https://*/*"], allowCA: false)

    public static func run(_ csr: CertificateSigningRequest) {
        _ = csr.publicKey.isValidSignature(csr.signature, for: csr)
        _ = try? profile.checkKey(csr.publicKey)
        _ = String(describing: csr.subject)
        guard let extensions = try? csr.attributes.extensionRequest?.extensions,
              let sans = try? extensions.subjectAlternativeNames else { return }
        _ = try? profile.checkSANs(Array(sans))
        for name in sans { _ = GeneralNameText.describe(name) }
    }
}

/// Loads the fixtures before the first input, so their one-time allocations are not
/// counted against an input by libFuzzer's leak check. Each target that uses them
/// exports this as LLVMFuzzerInitialize.
public func fuzzInitializeFixtures() -> CInt {
    _ = FuzzFixture.ra
    return 0
}
