/// The paths and methods of the REST API, read from its OpenAPI document (the contract the routes implement),
/// so that a known path asked with another method is answered `405` with `Allow` (RFC 9110 15.5.6)
/// instead of `404`.
struct APIRouteTable: Sendable {
    struct Route: Sendable {
        /// Path segments; nil for a `{parameter}`, which matches any one non-empty segment.
        let segments: [String?]
        let methods: [String]
    }

    let routes: [Route]

    /// Reads `  /api/v1/...:` path lines and the `    get:` (post, put, patch, delete) lines under them.
    init(openAPI document: String) {
        var routes: [Route] = []
        var path: [String?]?
        var methods: [String] = []
        func flush() {
            if let path, !methods.isEmpty { routes.append(Route(segments: path, methods: methods)) }
            path = nil
            methods = []
        }
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                flush()
                path = line.dropFirst(2).dropLast().split(separator: "/").map { segment in
                    segment.hasPrefix("{") && segment.hasSuffix("}") ? nil : String(segment)
                }
            } else if path != nil, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
                      case let name = line.dropFirst(4).dropLast(),
                      ["get", "post", "put", "patch", "delete"].contains(name) {
                methods.append(name.uppercased())
            } else if !line.hasPrefix(" "), !line.isEmpty {
                flush()
            }
        }
        flush()
        self.routes = routes
    }

    /// The methods the document declares for `path`, or nil when no route has that path. Where a path with
    /// parameters and a literal one both match (`/certificates/{id}`, `/certificates/revocations`), the one with
    /// more literal segments wins, as the document means.
    func allowedMethods(for path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var best: (literals: Int, methods: [String])?
        for route in routes where route.segments.count == parts.count {
            let matches = zip(route.segments, parts).allSatisfy { template, part in
                template.map { $0 == part } ?? !part.isEmpty
            }
            guard matches else { continue }
            let literals = route.segments.count { $0 != nil }
            if best == nil || literals > best!.literals {
                best = (literals, route.methods)
            } else if literals == best!.literals {
                best!.methods += route.methods.filter { !best!.methods.contains($0) }
            }
        }
        return best?.methods
    }
}
