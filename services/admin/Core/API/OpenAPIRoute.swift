import Foundation
import Hummingbird

/// `GET /api/v1/openapi.yaml`: the API description (docs/api/openapi.yaml), no auth.
enum OpenAPIRoute {
    /// The document, bundled with the module.
    static func document() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw APIError(.internalServerError, "internal_error", "openapi.yaml resource missing")
        }
        return try Data(contentsOf: url)
    }

    static func add(to router: Router<BasicRequestContext>, document: Data) {
        router.get("/api/v1/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
