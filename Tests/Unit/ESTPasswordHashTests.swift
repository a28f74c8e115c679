import CertctlConfig
import CertctlStore
import Crypto
import Foundation
import Testing

/// The stored form of EST Basic passwords (EnrollmentESTStore): PBKDF2-HMAC-SHA256,
/// and the earlier salted SHA-256 still verifying until it is upgraded.
@Suite("EST password hashes")
struct ESTPasswordHashTests {
    let salt: [UInt8] = Array(0..<16)

    @Test("a new hash is pbkdf2-sha256$210000$<16-byte salt>$<32-byte hash> and equals openssl's and Python's PBKDF2")
    func newFormatKnownAnswer() throws {
        let stored = try EnrollmentESTStore.hashPassword("correct-horse-battery", salt: salt)
        // openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:correct-horse-battery
        //   -kdfopt hexsalt:000102030405060708090a0b0c0d0e0f -kdfopt iter:210000 PBKDF2 (and hashlib.pbkdf2_hmac agree)
        #expect(stored == "pbkdf2-sha256$210000$000102030405060708090a0b0c0d0e0f$"
            + "d02408d69caeb488dd6e2e992cc923c1311782bea6904c01d0f5043765affcd7")
    }

    @Test("a new hash verifies its password and refuses another")
    func newFormatVerifies() throws {
        let stored = try EnrollmentESTStore.hashPassword("s3cret-password")
        #expect(EnrollmentESTStore.verifyPassword("s3cret-password", stored: stored))
        #expect(!EnrollmentESTStore.verifyPassword("s3cret-passwore", stored: stored))
        #expect(!EnrollmentESTStore.verifyPassword("", stored: stored))
        #expect(!EnrollmentESTStore.needsRehash(stored))
    }

    @Test("each new hash gets its own salt")
    func saltPerHash() throws {
        let a = try EnrollmentESTStore.hashPassword("same"), b = try EnrollmentESTStore.hashPassword("same")
        #expect(a != b)
        #expect(a.split(separator: "$")[2] != b.split(separator: "$")[2])
    }

    @Test("the stored iteration count is the one used: a hash with 300000 iterations verifies and is not rehashed")
    func storedIterationsHonoured() throws {
        let stored = try EnrollmentESTStore.hashPassword("pw", salt: salt, iterations: 300_000)
        #expect(stored.hasPrefix("pbkdf2-sha256$300000$"))
        #expect(EnrollmentESTStore.verifyPassword("pw", stored: stored))
        #expect(!EnrollmentESTStore.needsRehash(stored))
    }

    @Test("an old sha256$salt$hash verifies its password, refuses another, and asks to be rehashed")
    func oldFormatVerifies() {
        // The earlier format, computed here independently of the store: SHA-256(salt || password).
        let stored = "sha256$" + Hex.string(salt) + "$" + Hex.string(SHA256.hash(data: salt + Array("old-password".utf8)))
        #expect(EnrollmentESTStore.verifyPassword("old-password", stored: stored))
        #expect(!EnrollmentESTStore.verifyPassword("old-passwore", stored: stored))
        #expect(EnrollmentESTStore.needsRehash(stored))
    }

    @Test("unreadable stored values match no password", arguments: [
        "", "plain", "sha256$zz$00", "sha256$0001$abcd",
        "pbkdf2-sha256$210000$0001", "pbkdf2-sha256$abc$0001$" + String(repeating: "00", count: 32),
        "pbkdf2-sha256$1000$0001$" + String(repeating: "00", count: 32),          // below OWASP's 210000
        "pbkdf2-sha256$99999999999$0001$" + String(repeating: "00", count: 32),   // would stall the login
        "pbkdf2-sha256$210000$$" + String(repeating: "00", count: 32),            // no salt
        "pbkdf2-sha512$210000$0001$" + String(repeating: "00", count: 32),
    ])
    func unreadableStoredValues(_ stored: String) {
        #expect(!EnrollmentESTStore.verifyPassword("", stored: stored))
        #expect(!EnrollmentESTStore.verifyPassword("password", stored: stored))
    }
}
