import Foundation
import FuzzSupport

/// SQLScript.statements, the migrator's statement splitter (Shared/Store/SQLScript.swift,
/// compiled here from a symlink so this target needs no Postgres client).
/// Statements come back non-empty and trimmed, never longer than the script.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSQLSplitter(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let script = String(decoding: fuzzInput(start, count), as: UTF8.self)
    let statements = SQLScript.statements(in: script)
    var total = 0
    for statement in statements {
        fuzzCheck(!statement.isEmpty, "empty statement")
        fuzzCheck(statement.trimmingCharacters(in: .whitespacesAndNewlines) == statement, "untrimmed statement")
        total += statement.unicodeScalars.count
    }
    fuzzCheck(total <= script.unicodeScalars.count, "statements longer than the script")
    return 0
}
