import Foundation
import Hummingbird

/// `GET /api/v1/openapi.yaml`: the API description (docs/api/openapi.yaml), no auth.
enum OpenAPIRoute {
    static func add(to router: Router<BasicRequestContext>) throws {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw APIError(.internalServerError, "internal", "openapi.yaml resource missing")
        }
        let document = try Data(contentsOf: url)
        router.get("/api/v1/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
