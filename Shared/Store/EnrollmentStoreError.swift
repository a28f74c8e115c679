/// Refusals of the SCEP endpoint and EST label stores.
public enum EnrollmentStoreError: Error, Equatable {
    case exists(String)
    case notFound(String)
    /// A referenced issuer or certificate profile does not exist.
    case missingReference(String)
}
