import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `~/.config/certctl/config.json` (or `$CERTCTL_CONFIG`): named profiles of URL, API key and CA file.
/// The key is a secret, so the file is written 0600 in a 0700 directory, and a file that group or
/// others can read is refused rather than used.
public struct ConfigFile: Codable, Sendable, Equatable {
    public struct Profile: Codable, Sendable, Equatable {
        public var url: String
        public var api_key: String
        public var cacert: String?
    }

    /// The profile used when `--profile` is not given.
    public var default_profile: String?
    public var profiles: [String: Profile] = [:]

    public init() {}

    /// `$CERTCTL_CONFIG`, else `$XDG_CONFIG_HOME/certctl/config.json`, else `~/.config/certctl/config.json`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["CERTCTL_CONFIG"], !path.isEmpty { return path }
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return base + "/certctl/config.json"
    }

    /// The file at `path`; an empty configuration when there is none.
    public static func load(_ path: String) throws -> ConfigFile {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return ConfigFile() }
            throw CLIError.file(path, String(cString: strerror(errno)))
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CLIError(.failure, "config_permissions",
                           "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 \(path) and consider rotating the key it holds")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError.file(path, "cannot be read") }
        do {
            return try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch {
            throw CLIError(.failure, "config_invalid", "\(path) is not a certctl configuration: \(error)")
        }
    }

    /// Writes atomically (a 0600 temporary file renamed over the old one); makes the directory 0700.
    public func save(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw CLIError.file(directory, "cannot create the directory: \(error.localizedDescription)")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(self)) + [0x0a]
        let temporary = path + ".tmp-\(getpid())"
        try SecretFile.write(bytes, to: temporary)
        guard rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError.file(path, why)
        }
    }
}

/// Files holding secrets (API keys, private keys): created 0600 from the start, never widened later.
enum SecretFile {
    /// Creates `path` (which must not exist unless `replace`) with mode 0600 and writes `bytes`.
    static func write(_ bytes: [UInt8], to path: String, replace: Bool = true) throws {
        if replace { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CLIError.file(path, errno == EEXIST ? "exists (use --force to replace it)" : String(cString: strerror(errno)))
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        fchmod(fd, 0o600)  // in case the umask removed bits we want (it cannot add any)
        do {
            try handle.write(contentsOf: bytes)
            try handle.close()
        } catch {
            throw CLIError.file(path, "cannot be written: \(error.localizedDescription)")
        }
    }
}

/// Plain output files (certificates, CRLs): refused when they exist unless `force`.
enum OutputFile {
    static func write(_ bytes: [UInt8], to path: String, force: Bool) throws {
        if path == "-" {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        if !force, FileManager.default.fileExists(atPath: path) {
            throw CLIError.file(path, "exists (use --force to replace it)")
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CLIError.file(path, "cannot be written")
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError.file(path, "cannot be read") }
        return Array(data)
    }
}
