import GRPCCore

/// How a signer refusal's code travels: gRPC status FAILED_PRECONDITION (or
/// PERMISSION_DENIED) with the code in the `certctl-refusal-code` trailing
/// metadata entry, so clients never parse it out of the message text.
public enum RefusalTrailer {
    public static let metadataKey = "certctl-refusal-code"

    public static func error(_ status: RPCError.Code, code: String, message: String) -> RPCError {
        var metadata = Metadata()
        metadata.addString(code, forKey: metadataKey)
        return RPCError(code: status, message: message, metadata: metadata)
    }

    /// The refusal code an error carries, or nil when it is not a signer refusal.
    public static func read(_ error: RPCError) -> String? {
        error.metadata[stringValues: metadataKey].first(where: { _ in true })
    }
}
