import CertctlStore
import Foundation
import Testing

@Suite("SQL script splitting")
struct SQLScriptTests {
    @Test("statements split on semicolons outside quotes, comments and dollar bodies")
    func splits() {
        let script = """
            -- leading comment; not a statement
            CREATE TABLE a (x text DEFAULT 'semi;colon', "we;ird" int);
            /* block; comment /* nested; */ still */ INSERT INTO a VALUES ('it''s;');
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'no; way'; END;
            $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
            SELECT $1::text;
            -- trailing comment
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 5)
        #expect(statements[0].hasPrefix("-- leading comment"))
        #expect(statements[0].hasSuffix(#""we;ird" int)"#))
        #expect(statements[1].hasSuffix("VALUES ('it''s;')"))
        #expect(statements[2].contains("RAISE EXCEPTION 'no; way'; END;"))
        #expect(statements[3].hasSuffix("$body$ SELECT 1; $body$"))
        #expect(statements[4] == "SELECT $1::text")
    }

    @Test("migration files are named NNNN_name.sql and versions are unique")
    func migrationFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 2;".write(to: directory.appendingPathComponent("0002_second.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        let loaded = try Migration.load(from: directory)
        #expect(loaded.map(\.version) == [1, 2])
        #expect(loaded.map(\.name) == ["first", "second"])

        try "SELECT 3;".write(to: directory.appendingPathComponent("0002_again.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.duplicateVersion(2)) { try Migration.load(from: directory) }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("0002_again.sql"))

        try "SELECT 4;".write(to: directory.appendingPathComponent("four.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.invalidFileName("four.sql")) { try Migration.load(from: directory) }
    }

    @Test("the shipped migrations load and are numbered from 1 without gaps")
    func bundled() throws {
        let migrations = try Migration.bundled()
        #expect(!migrations.isEmpty)
        #expect(migrations.map(\.version) == Array(1...migrations.count))
    }
}
