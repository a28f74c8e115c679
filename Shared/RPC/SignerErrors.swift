import Foundation
import GRPCCore

/// Typed refusals travel as gRPC status + a `certctl-refusal` code in the
/// message prefix (`code: text`), so callers map them back to their own
/// protocol's error form without parsing prose.
public enum SignerRefusal {
    public static func error(_ code: RPCError.Code, _ refusal: String, _ message: String) -> RPCError {
        RPCError(code: code, message: "\(refusal): \(message)")
    }

    /// (refusal code, message) of a signer error, if it carries one.
    public static func parse(_ error: RPCError) -> (code: String, message: String) {
        guard let colon = error.message.firstIndex(of: ":") else { return ("signer_error", error.message) }
        let code = String(error.message[..<colon])
        guard code.allSatisfy({ $0.isLetter || $0 == "_" }) else { return ("signer_error", error.message) }
        return (code, error.message[error.message.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
}
