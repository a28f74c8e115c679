import Foundation

/// Checks on files that hold secrets (CA keys, RA keys, responder keys): they
/// must exist and be readable by their owner only.
public enum PrivateFile {
    /// Throws a `ConfigError` naming `variable` and `path` unless `path` is a
    /// regular file that group and others cannot read or write.
    public static func checkOwnerOnly(_ path: String, variable: String) throws(ConfigError) {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw ConfigError(variable: variable, value: path, expected: "an existing, readable file (it does not exist or cannot be read)")
        }
        guard (attributes[.type] as? FileAttributeType) == .typeRegular else {
            throw ConfigError(variable: variable, value: path, expected: "a regular file")
        }
        let mode = (attributes[.posixPermissions] as? Int) ?? 0o777
        guard mode & 0o077 == 0 else {
            throw ConfigError(
                variable: variable, value: path,
                expected: "a key file readable by its owner only (mode is \(String(mode, radix: 8)); run chmod 600 \(path))")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigError(variable: variable, value: path, expected: "a file this process can read")
        }
    }

    /// Throws unless `path` is an existing readable regular file.
    public static func checkReadable(_ path: String, variable: String) throws(ConfigError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path)
        else {
            throw ConfigError(variable: variable, value: path, expected: "an existing, readable file")
        }
    }

    /// Creates `path` (mode 0700) if missing; throws unless it is then a
    /// directory that group and others cannot write.
    public static func ensurePrivateDirectory(_ path: String, variable: String) throws(ConfigError) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigError(variable: variable, value: path, expected: "a directory this process can create (\(error.localizedDescription))")
            }
            return
        }
        guard isDirectory.boolValue else {
            throw ConfigError(variable: variable, value: path, expected: "a directory, not a file")
        }
        let mode = ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? 0o777
        guard mode & 0o022 == 0 else {
            throw ConfigError(variable: variable, value: path,
                              expected: "a directory group/others cannot write (mode is \(String(mode, radix: 8)); run chmod 700 \(path))")
        }
    }
}
