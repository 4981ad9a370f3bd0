import Foundation
import KubeModel

extension StateStore {
    /// A full check of the file, beyond the `quick_check` every open runs: SQLite's `integrity_check` and
    /// `foreign_key_check`, and Meshform's own invariants (each body is stored under the hash of its value, so each
    /// object's `applied_hash` is the hash of its applied body; the serial is not below any run's recorded serial; every journal entry belongs to a run).
    /// Returns the problems found, empty when the file is sound. Read-only.
    public func integrityProblems() throws -> [String] {
        let storage = try backend.storageProblems()
        return try read { tx in
            var problems = storage
            // Each distinct body once (a fleet's objects share a few hundred), then every object that names a bad one.
            var bad: [String] = []
            try tx.forEachRow("SELECT hash, text FROM bodies") { row in
                let hash = row.text("hash")
                let value = try? JSON.parse(Data(row.text("text").utf8))
                if value.map(Self.contentHash) != hash { bad.append(hash) }
            }
            for hash in bad {
                let users = try tx.texts("SELECT address FROM objects WHERE applied_hash = ? ORDER BY address", [hash])
                if users.isEmpty { problems.append("body \(hash): its text does not have that hash") }
                problems += users.map { "\($0): applied_hash does not match its applied body" }
            }
            let serial = try Self.serial(tx)
            if let highest = try tx.value("SELECT MAX(serial_after) AS m FROM runs")?.int, highest > serial {
                problems.append("serial \(serial) is below a run's recorded serial \(highest)")
            }
            let strays = try tx.value("SELECT COUNT(*) AS n FROM journal WHERE run NOT IN (SELECT id FROM runs)")?.int ?? 0
            if strays > 0 { problems.append("\(strays) journal entries belong to no run") }
            return problems
        }
    }
}
