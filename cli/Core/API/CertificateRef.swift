import CertctlPKI
import Foundation

/// A certificate named on the command line: its UUID, or its serial in hex (colons allowed).
enum CertificateRef {
    /// The certificate JSON of `reference`; not found (exit 4) when no certificate has it.
    static func fetch(_ reference: String, _ client: AdminClient) async throws -> AdminClient.Reply {
        if let id = UUID(uuidString: reference) {
            return try await client.get("/api/v1/certificates/\(id.uuidString.lowercased())")
        }
        guard let serial = SerialNumber.canonicalize(reference.replacingOccurrences(of: ":", with: "")) else {
            throw CLIError(.usage, "invalid_reference", "\(reference) is neither a certificate id (UUID) nor a serial in hex")
        }
        let page = try await client.get("/api/v1/certificates", query: [("serial", serial), ("limit", "1")])
        guard let first = page.json["items"].array.first else {
            throw CLIError(.notFound, "certificate_not_found", "no certificate has serial \(serial)")
        }
        return AdminClient.Reply(raw: try first.encoded(), json: first, status: page.status)
    }

    static func id(_ reference: String, _ client: AdminClient) async throws -> String {
        if let id = UUID(uuidString: reference) { return id.uuidString.lowercased() }
        guard let id = try await fetch(reference, client).json["id"].string else {
            throw CLIError(.failure, "invalid_response", "the certificate has no id")
        }
        return id
    }
}

/// How certificates print as tables and details.
enum CertificateView {
    static func table(_ items: [JSONValue]) -> String {
        var table = Table(["ID", "SERIAL", "STATUS", "NOT AFTER", "ISSUER", "PROFILE", "SUBJECT"])
        for item in items {
            table.add([item["id"].text, item["serial_hex"].text, item["status"].text, day(item["not_after"]),
                       item["issuer_id"].text, item["profile_id"].text, item["subject"].text])
        }
        return table.render()
    }

    static func details(_ item: JSONValue) -> String {
        var details = Details()
        for key in ["id", "serial_hex", "status", "subject", "subject_alt_names", "issuer_id", "profile_id", "not_before",
                    "not_after", "requested_by", "created_at", "failure_reason"] {
            details.add(key, item[key].text)
        }
        let revocation = item["revocation"]
        if !revocation.isNull {
            details.add("revoked_at", revocation["revoked_at"].text)
            details.add("revocation_reason", revocation["reason"].text)
            details.add("revoked_by", revocation["revoked_by"].text)
        }
        return details.render()
    }

    /// The date part of an RFC 3339 timestamp.
    static func day(_ value: JSONValue) -> String {
        guard let text = value.string else { return "-" }
        return String(text.prefix(10))
    }
}
