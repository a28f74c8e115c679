import Foundation
import CertctlObservability
import Hummingbird
import Prometheus

/// `/healthz` (the process is alive), `/readyz` (it can serve: database and
/// schema) and `/metrics` (Prometheus text), the same on every service.
public enum HealthRoutes {
    public static func add<Context: RequestContext>(
        to router: Router<Context>, service: String, readiness: ReadinessMonitor,
        registry: PrometheusCollectorRegistry
    ) {
        router.get("/healthz") { _, _ in
            jsonResponse(.ok, #"{"status":"ok","service":"\#(service)"}"#)
        }
        router.get("/readyz") { _, _ in
            switch readiness.current {
            case .ready:
                return jsonResponse(.ok, #"{"status":"ready","service":"\#(service)"}"#)
            case .starting:
                return jsonResponse(.serviceUnavailable, #"{"status":"starting","service":"\#(service)"}"#)
            case .degraded(let reason):
                return jsonResponse(.ok,
                    #"{"status":"degraded","service":"\#(service)","reason":\#(jsonString(reason))}"#)
            case .notReady(let reason):
                return jsonResponse(.serviceUnavailable,
                    #"{"status":"not_ready","service":"\#(service)","reason":\#(jsonString(reason))}"#)
            }
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = MetricsSetup.contentType
            return Response(status: .ok, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Minimal JSON string escaping for a log-style reason text.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
