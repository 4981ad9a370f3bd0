import Foundation
import GRDB
import Testing
import KubeModel
@testable import StateStore

/// A state file is checked before anything is written to it: empty, foreign, newer or damaged files and values
/// that later code could not use are refused, naming the file (and the row), and left byte for byte as they were.
@Suite struct HostileStateTests {
    /// Both ways commands open state, each refusing `path` with the same error, the file unchanged.
    func expectRefused(_ path: String, _ check: (StateError) -> Bool) throws {
        let before = FileManager.default.contents(atPath: path)
        var errors: [StateError] = []
        for open in [{ _ = try StateStore.open(path: path, create: true) }, { _ = try StateStore.open(path: path, create: false) },
                     { _ = try StateStore.openReadOnly(path: path) }] {
            do { try open(); Issue.record("\(path) was accepted") } catch let e as StateError { errors.append(e) }
        }
        #expect(Set(errors.map(\.description)).count == 1, "every command refuses it the same way: \(errors)")
        if let e = errors.first { #expect(check(e), "\(e)"); #expect(e.description.contains(path)) }
        #expect(FileManager.default.contents(atPath: path) == before, "a refused file is not changed")
    }

    @Test func anEmptyFileIsRefusedNotInitialised() throws {
        let t = TempState()
        let p = t.file("empty.db")
        #expect(FileManager.default.createFile(atPath: p, contents: Data()))
        try expectRefused(p) { if case .corrupt(_, let d) = $0 { return d.contains("empty (0 bytes)") }; return false }
        #expect(try Data(contentsOf: URL(fileURLWithPath: p)).isEmpty)
    }

    @Test func foreignAndTablelessSQLiteFilesAreLeftAlone() throws {
        let t = TempState()
        let other = t.file("other.db")
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE users (id INTEGER PRIMARY KEY)") }
        try expectRefused(other) { if case .foreign = $0 { return true }; return false }
        // Opening through a pool would have switched it to WAL mode (a write): the header says it is still not.
        let header = try #require(FileManager.default.contents(atPath: other))
        #expect(header[18] == 1 && header[19] == 1, "journal mode untouched (1 = rollback journal, 2 = WAL)")

        let blank = t.file("blank.db")
        let q = try DatabaseQueue(path: blank)
        try q.write { try $0.execute(sql: "CREATE TABLE x (a); DROP TABLE x") }
        try q.close()
        try expectRefused(blank) { if case .foreign = $0 { return true }; return false }
    }

    @Test func aNewerFileIsRefusedUntouched() throws {
        let t = TempState()
        _ = try StateStore.open(path: t.path)
        let q = try DatabaseQueue(path: t.path)
        try q.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v9-future')") }
        try q.close()
        try expectRefused(t.path) { $0 == .newerSchema(path: t.path, unknownMigrations: ["v9-future"]) }
    }

    /// Hand edits SQLite accepts but Meshform cannot use: each a `.corrupt` naming the table and row.
    @Test(arguments: [
        ("UPDATE meta SET value = 'abc' WHERE key = 'serial'", "meta row 'serial': 'abc' is not a whole number"),
        ("UPDATE meta SET value = -1 WHERE key = 'serial'", "meta row 'serial': -1 is not a whole number"),
        ("DELETE FROM meta WHERE key = 'lineage'", "meta row 'lineage' is missing"),
        ("UPDATE bodies SET text = '[1,2,3]'", "bodies row 'sha256:"),
        ("UPDATE bodies SET text = '{\"spec\":{}}' WHERE hash IN (SELECT applied_hash FROM objects)",
         "objects row 'remote1/apps/Deployment/sample/web': applied is not a JSON object with a kind"),
        ("DELETE FROM bodies WHERE hash IN (SELECT applied_hash FROM objects)", "objects row 'remote1/apps/Deployment/sample/web': its applied body is missing"),
        ("UPDATE journal SET after_hash = 'sha256:00'", "its before or after body is missing"),
        ("UPDATE objects SET dependencies = '[1]'", "objects row 'remote1/apps/Deployment/sample/web': dependencies is not a JSON list"),
        ("UPDATE objects SET created_at = 'yesterday'", "objects row 'remote1/apps/Deployment/sample/web': created_at holds a text value, not integer"),
        ("UPDATE objects SET uid = x'00ff'", "objects row 'remote1/apps/Deployment/sample/web': uid holds a blob value, not text"),
        ("UPDATE runs SET serial_before = 'x'", "serial_before holds a text value, not integer"),
        ("UPDATE bodies SET text = 'not json'", "text is not a JSON object"),
    ])
    func valuesAreCheckedWithTheRowNamed(_ edit: String, _ expected: String) throws {
        let t = TempState()
        do {
            let store = try StateStore.open(path: t.path)
            try store.upsert(managed(deployment("web")), run: nil)
            let run = try store.beginRun(kind: .apply, who: "ci", configHash: "h")
            try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/web"), action: .create, phase: .started,
                                                     before: nil, after: deployment("web")))
            try store.finishRun(run, outcome: .succeeded, message: nil)
        }
        let q = try DatabaseQueue(path: t.path)
        try q.writeWithoutTransaction { try $0.execute(sql: edit) }
        try q.close()
        try expectRefused(t.path) { if case .corrupt(_, let d) = $0 { return d.hasPrefix(expected) || d.contains(expected) }; return false }
    }

    @Test func aFreshFileIsStillCreatedAndAValidOneOpened() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        try store.upsert(managed(deployment("web")), run: nil)
        #expect(fileMode(t.dir + "/state") == 0o40700 || (fileMode(t.dir + "/state")! & 0o777) == 0o700)
        #expect(try StateStore.open(path: t.path, create: false).serial() == 1)
        #expect(try StateStore.openReadOnly(path: t.path).objects().count == 1)
    }
}
