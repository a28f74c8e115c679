import CertctlConfig
import Crypto
import Foundation

/// One numbered, plain-SQL schema migration (`NNNN_name.sql`).
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the file's text: an applied migration must never change.
    public var checksum: String {
        Hex.string(SHA256.hash(data: Data(sql.utf8)))
    }

    /// Parses `0001_initial.sql` into (1, "initial").
    static func parseFileName(_ fileName: String) -> (version: Int, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_"),
              let version = Int(stem[..<underscore]), version > 0
        else { return nil }
        let name = String(stem[stem.index(after: underscore)...])
        return name.isEmpty ? nil : (version, name)
    }

    /// The migrations shipped with this build, in order.
    public static func bundled() throws(MigrationError) -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw .bundleMissing
        }
        return try load(from: directory)
    }

    /// Loads every `NNNN_name.sql` in `directory`, sorted by version.
    public static func load(from directory: URL) throws(MigrationError) -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadable(directory.path, "\(error)")
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            guard let (version, name) = parseFileName(file) else { throw .invalidFileName(file) }
            let sql: String
            do {
                sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            } catch {
                throw .unreadable(file, "\(error)")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        try validateOrder(migrations)
        return migrations.sorted { $0.version < $1.version }
    }

    static func validateOrder(_ migrations: [Migration]) throws(MigrationError) {
        var seen = Set<Int>()
        for migration in migrations {
            guard seen.insert(migration.version).inserted else { throw .duplicateVersion(migration.version) }
        }
    }
}

/// Why migrating stopped. Each case names the migration concerned.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case bundleMissing
    case unreadable(String, String)
    case invalidFileName(String)
    case duplicateVersion(Int)
    /// An applied migration's text differs from the shipped file.
    case checksumMismatch(version: Int, name: String)
    /// The database has migrations this build does not know (it is older than the schema).
    case databaseAhead(versions: [Int])
    /// A statement failed; the migration's transaction was rolled back.
    case failed(version: Int, name: String, error: String)
    /// The connecting role may not change the schema (a service role, not the owner).
    case notSchemaOwner(role: String, error: String)

    public var description: String {
        switch self {
        case .bundleMissing:
            return "the Migrations resource bundle is missing next to the executable"
        case .unreadable(let path, let error):
            return "cannot read migration \(path): \(error)"
        case .invalidFileName(let file):
            return "migration file \(file) is not named NNNN_name.sql"
        case .duplicateVersion(let version):
            return "two migration files have version \(version)"
        case .checksumMismatch(let version, let name):
            return "migration \(version)_\(name) was changed after it was applied (checksum differs from schema_migrations)"
        case .databaseAhead(let versions):
            return "database has migrations this build does not ship: \(versions.map(String.init).joined(separator: ", ")); upgrade certctl"
        case .failed(let version, let name, let error):
            return "migration \(version)_\(name) failed and was rolled back: \(error)"
        case .notSchemaOwner(let role, let error):
            return "migrations are pending and role \(role) may not apply them (\(error)): run `certctl-admin migrate` with the schema owner's CERTCTL_DATABASE_URL (certctl_owner) first"
        }
    }
}
