import Foundation
import Logging

/// Writes one line per log event to stderr: a JSON object (`json`) for log
/// shippers, or `time level label: message key=value…` (`text`) for people.
public struct StructuredLogHandler: LogHandler {
    public enum Format: Sendable { case json, text }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let timestamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line: String
        switch format {
        case .json:
            var object: [String: Any] = [
                "ts": timestamp, "level": event.level.rawValue, "logger": label,
                "msg": event.message.description,
            ]
            for (key, value) in merged { object[key] = Self.jsonValue(value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(timestamp) \(event.level.rawValue.uppercased()) \(label): \(event.message)"
                + (fields.isEmpty ? "" : " " + fields)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array(let array): return array.map(jsonValue)
        case .dictionary(let dictionary): return dictionary.mapValues(jsonValue)
        }
    }
}

public enum LoggingSetup {
    /// Installs the structured handler process-wide. Call once, first thing.
    public static func bootstrap(level: Logger.Level, format: StructuredLogHandler.Format) {
        LoggingSystem.bootstrap { label in
            StructuredLogHandler(label: label, level: level, format: format)
        }
    }
}
