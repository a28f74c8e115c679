import ArgumentParser
import Foundation

/// `--output table` (readable) or `--output json` (the API's JSON as it came).
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table
    case json
}

/// Everything a command prints goes through here: results to stdout, notes and progress to stderr.
enum Console {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// The API's JSON bytes as they came (one document per line, ready for jq).
    static func json(_ raw: [UInt8]) {
        var bytes = raw
        if bytes.last != 0x0a { bytes.append(0x0a) }
        FileHandle.standardOutput.write(Data(bytes))
    }

    static func json(_ value: JSONValue) throws {
        json(try value.encoded())
    }

    static var stderrIsTerminal: Bool { isatty(FileHandle.standardError.fileDescriptor) == 1 }
}
