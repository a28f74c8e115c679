/// The form of an issuer id, as the database's `issuer_id` domain checks it:
/// 1–63 lower-case letters, digits and hyphens, not starting with a hyphen.
public enum IssuerID {
    public static func isValid(_ text: some StringProtocol) -> Bool {
        guard let first = text.utf8.first, (1...63).contains(text.utf8.count), first != 45 else { return false }
        return text.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
    }
}
