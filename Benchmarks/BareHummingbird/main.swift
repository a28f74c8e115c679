// certctl-bench-bare-http: the baseline of `scripts/bench ocsp`. One Hummingbird 2
// route answering a fixed 300-byte body, served the way ServiceProcess serves
// certctl-ocsp (an Application on HardenedHTTPServer with the listener limits read
// from the same CERTCTL_HTTP_* variables, default otherwise), but with nothing
// else: no middleware, no other routes, no database.
//
//   certctl-bench-bare-http --port 8080 [--server hardened|plain]
//
// `plain` uses Hummingbird's stock `.http1()` server instead (the bare stack
// issue #16's first figures were measured against), to show what the listener
// limits themselves cost.
import CertctlConfig
import CertctlObservability
import CertctlRuntime
import Foundation
import Hummingbird
import HummingbirdCore
import Logging

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
guard let port = option("--port").flatMap(Int.init), (1...65535).contains(port) else {
    FileHandle.standardError.write(Data("usage: certctl-bench-bare-http --port PORT [--server hardened|plain]\n".utf8))
    exit(2)
}
let serverKind = option("--server") ?? "hardened"
guard serverKind == "hardened" || serverKind == "plain" else {
    FileHandle.standardError.write(Data("--server must be hardened or plain\n".utf8))
    exit(2)
}

var logger = Logger(label: "certctl-bench-bare-http")
logger.logLevel = .warning
let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 300)
let router = Router()
router.get("/fixed") { _, _ in
    var headers = HTTPFields()
    headers[.contentType] = "application/octet-stream"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
}
let server: HTTPServerBuilder
if serverKind == "plain" {
    server = .http1()
} else {
    _ = MetricsSetup.bootstrap()  // the listener's connection metrics go to Prometheus, as in certctl-ocsp
    let limits = try ListenerLimits(Environment(ProcessInfo.processInfo.environment))
    server = try HardenedHTTPServer.builder(listener: "bench", limits: limits, tlsFiles: nil)
}
let app = Application(
    router: router, server: server,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "certctl-bench-bare-http"),
    logger: logger)
try await app.runService()
