import Foundation
import GRDB

extension StateStore {
    /// A full check of the file, beyond the `quick_check` every open runs: SQLite's `integrity_check` and
    /// `foreign_key_check`, and Meshform's own invariants (each object's `applied_hash` is the hash of its
    /// `applied` body; the serial is not below any run's recorded serial; every journal entry belongs to a run).
    /// Returns the problems found, empty when the file is sound. Read-only.
    public func integrityProblems() throws -> [String] {
        try read { db in
            var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
            problems += try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { "foreign key: \($0)" }
            for o in try Self.objects(db) where Self.contentHash(o.applied) != o.appliedHash {
                problems.append("\(o.address): applied_hash does not match its applied body")
            }
            let serial = try Self.serial(db)
            if let highest = try Int.fetchOne(db, sql: "SELECT MAX(serial_after) FROM runs"), highest > serial {
                problems.append("serial \(serial) is below a run's recorded serial \(highest)")
            }
            let strays = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal WHERE run NOT IN (SELECT id FROM runs)") ?? 0
            if strays > 0 { problems.append("\(strays) journal entries belong to no run") }
            return problems
        }
    }
}
