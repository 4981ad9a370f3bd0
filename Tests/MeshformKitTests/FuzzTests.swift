import Foundation
import KubeClient
import GRDB
import KubeModel
import PropertyBased
import StateStore
import Testing
@testable import MeshformKit

/// Property-based fuzzing of what users (or attackers) hand Meshform: the example mesh files, mutated, must give
/// exit 0 (valid) or exit 1 with every message at a FILE:LINE:COLUMN inside the file; a damaged state file must be
/// refused with a `StateError` naming it, and left as it was. Never a crash, a hang or unbounded memory.
///
/// Runs in-process (`MeshFile.parse` is all `meshform validate` does before printing), so thousands of cases fit
/// in seconds; a sample goes through the real `meshform validate` to check the exit codes of the process.
/// Prints one line: `fuzz: N mesh cases, M state cases, C crashes, H hangs, U unlocated`.
@Suite(.serialized) struct FuzzTests {
    static let meshCases = 3000
    static let stateCases = 700
    /// A hang guard, not a benchmark: a case that takes this long is counted as a hang.
    static let hangSeconds = 5.0
    /// Resident memory may grow this much over the whole run (a billion-laughs expansion would take GBs).
    static let memoryBudgetBytes = 512 << 20

    static let sources: [(name: String, text: String)] = ["demo.yaml", "external-controlplane.yaml", "multi-remote.yaml"].map {
        ($0, (try? String(contentsOfFile: TestPaths.plan($0), encoding: .utf8)) ?? "")
    }

    /// Text that breaks YAML or the schema in the ways hostile or careless input does.
    static let snippets: [String] = [
        "&a [1, 2]", "*a", "*undefined", "&x {k: v}", "? [*x]: 1", "<<: *a", "!!binary AAAA", "!custom {a: 1}",
        String(repeating: "[", count: 400), String(repeating: "{a: ", count: 120), String(repeating: "- ", count: 300),
        "\t", "\u{0}", "\u{FEFF}", "\r\n", "'unterminated", "\"\\u12\"", "key: value\nkey: again", "---\n", "...\n",
        "%YAML 1.1\n", "~", "null", "[]", "{}", "99999999999999999999999", "-1", "0x1F", "1e400", "é", ": ", "- ",
        "${UNSET_FUZZ_VARIABLE}", "$${LITERAL}", "${", String(repeating: "a", count: 100_000),
        "dependsOn: [helloworld]", "dependsOn: [nope, sleep]", "name: helloworld", "role: external", "clusters: []",
        "workloads: {a: 1}", "mesh: Not_A_Label", "namespace: ''", "selector: '!!!'", "port: eighty",
        billionLaughs(levels: 9),
        "lol0: &l0 [x, x]\nlol1: &l1 [*l0, *l0, *l0, *l0]\nlol2: [*l1, *l1, *l1, *l1, *l1]",
    ]

    static func billionLaughs(levels: Int) -> String {
        var lines = ["bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1...levels { lines.append("bomb\(i): &b\(i) [" + Array(repeating: "*b\(i - 1)", count: 9).joined(separator: ", ") + "]") }
        return lines.joined(separator: "\n")
    }

    /// One mutation of `text`, chosen and placed by the four numbers.
    static func mutate(_ text: String, op: Int, a: Int, b: Int) -> String {
        var lines = text.components(separatedBy: "\n")
        let n = max(lines.count, 1)
        let i = a % n, j = b % n
        let snippet = snippets[b % snippets.count]
        switch op {
        case 0: if !lines.isEmpty { lines.remove(at: i) }
        case 1: lines.insert(lines[i], at: j)
        case 2: lines.swapAt(i, j)
        case 3: return String(text.utf8.prefix(a % max(text.utf8.count, 1))) ?? ""
        case 4: lines.insert(snippet, at: i)
        case 5:  // replace the value after the first ': '
            if let r = lines[i].range(of: ": ") { lines[i] = String(lines[i][..<r.upperBound]) + snippet }
            else { lines[i] += snippet }
        case 6: lines[i] = String(repeating: " ", count: b % 9) + lines[i].trimmingCharacters(in: .whitespaces)
        case 7:  // a byte anywhere
            var bytes = Array(text.utf8)
            if !bytes.isEmpty { bytes[a % bytes.count] = UInt8(truncatingIfNeeded: b) }
            return String(decoding: bytes, as: UTF8.self)
        case 8:  // a snippet indented under a line, as a nested value
            let indent = lines[i].prefix { $0 == " " }.count + 2
            lines.insert(snippet.split(separator: "\n").map { String(repeating: " ", count: indent) + $0 }.joined(separator: "\n"), at: min(i + 1, lines.count))
        case 9:  // under controlPlane.istiod.values, where free-form YAML is allowed
            let at = lines.firstIndex { $0.hasPrefix("controlPlane:") }.map { $0 + 1 } ?? lines.count
            let nested = snippet.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")
            lines.insert("  istiod:\n    values:\n" + nested, at: at)
        default: lines.insert(lines[i], at: i)
        }
        return lines.joined(separator: "\n")
    }

    enum Outcome { case valid, located, unlocated(String) }

    /// What `meshform validate` would do with `text`, checked for a location inside the file.
    static func validate(_ text: String, path: String) -> Outcome {
        do {
            _ = try MeshFile.parse(text: text, path: path, environment: guideEnvironment)
            return .valid
        } catch let e as MeshFileError {
            guard !e.diagnostics.isEmpty else { return .unlocated("an error without diagnostics") }
            let lines = yamlLines(text)
            for d in e.diagnostics {
                let l = d.location
                let width = l.line <= lines.count ? lines[l.line - 1].utf8.count : 0
                guard l.file == path, l.line >= 1, l.line <= lines.count + 1, l.column >= 1, l.column <= width + 2 else {
                    return .unlocated("\(d) is outside the file (\(lines.count) lines)")
                }
                if d.description.utf8.count > 2000 { return .unlocated("a message of \(d.description.utf8.count) bytes") }
            }
            return .located
        } catch {
            return .unlocated("not a MeshFileError: \(type(of: error)) \(String(describing: error).prefix(200))")
        }
    }

    /// The lines of `text` as YAML (and libyaml's marks) count them: a line ends at LF, CR, CRLF, NEL, LS or PS.
    static func yamlLines(_ text: String) -> [String] {
        var lines: [String] = [], current = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator(), pending = scalars.next()
        while let c = pending {
            pending = scalars.next()
            switch c {
            case "\r": if pending == "\n" { pending = scalars.next() }; fallthrough
            case "\n", "\u{85}", "\u{2028}", "\u{2029}": lines.append(String(current)); current = .init()
            default: current.append(c)
            }
        }
        lines.append(String(current))
        return lines
    }

    /// Resident memory now (Linux: /proc/self/statm; elsewhere the peak from getrusage).
    static func residentMemory() -> Int {
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss * 1024
    }

    struct Tally {
        var cases = 0, hangs = 0, unlocated = 0, valid = 0
        var examples: [String] = []
        mutating func record(_ o: Outcome, seconds: Double, input: String) {
            cases += 1
            if seconds > FuzzTests.hangSeconds { hangs += 1; examples.append("hang (\(seconds) s): \(input.prefix(200))") }
            switch o {
            case .valid: valid += 1
            case .located: break
            case .unlocated(let why): unlocated += 1; examples.append("unlocated: \(why)")
            }
        }
    }

    @Test func mutatedMeshFilesAndStateFilesNeverCrashHangOrGoUnlocated() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let memoryBefore = Self.residentMemory()
        var memoryPeak = memoryBefore
        var mesh = Tally()
        let clock = ContinuousClock()
        var samples: [String] = []
        await propertyCheck(count: Self.meshCases, input: Gen.int(in: 0...(Self.sources.count - 1)), Gen.int(in: 0...10),
                            Gen.int(in: 0...1_000_000), Gen.int(in: 0...1_000_000)) { file, op, a, b in
            let source = Self.sources[file]
            let text = Self.mutate(source.text, op: op, a: a, b: b)
            let path = dir.appendingPathComponent(source.name).path
            var outcome = Outcome.valid
            let took = clock.measure { outcome = Self.validate(text, path: path) }
            let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            mesh.record(outcome, seconds: seconds, input: text)
            memoryPeak = max(memoryPeak, Self.residentMemory())
            if samples.count < 12 && (a % 97 == 0 || op == 9) { samples.append(text) }
        }

        let state = try await StateFuzz(dir: dir).run(cases: Self.stateCases)
        let memoryGrowth = max(memoryPeak, Self.residentMemory()) - memoryBefore
        let cli = try await Self.validateWithTheCLI(samples, dir: dir)

        let crashes = cli.crashes
        print("fuzz: \(mesh.cases) mesh cases (\(mesh.valid) valid), \(state.cases) state cases (\(state.refused) refused), "
              + "\(cli.runs) CLI runs; \(crashes) crashes, \(mesh.hangs + state.hangs) hangs, \(mesh.unlocated + state.unlocated) unlocated; "
              + "resident memory grew at most \(memoryGrowth >> 20) MiB")
        #expect(mesh.cases == Self.meshCases)
        #expect(state.cases == Self.stateCases)
        #expect(crashes == 0)
        #expect(mesh.hangs == 0 && state.hangs == 0, "\(mesh.examples.prefix(3))")
        #expect(mesh.unlocated == 0, "\(mesh.examples.prefix(5))")
        #expect(state.unlocated == 0, "\(state.examples.prefix(5))")
        #expect(state.touched == 0, "refused state files were changed: \(state.examples.prefix(5))")
        #expect(memoryGrowth < Self.memoryBudgetBytes)
        // The mutations are not all fatal: some stay valid, and the state mutations are mostly refused.
        #expect(mesh.valid > 0 && mesh.valid < mesh.cases)
        #expect(state.refused > 0)
    }

    /// A sample through the real executable: exit 0 or 1, never a signal.
    static func validateWithTheCLI(_ texts: [String], dir: URL) async throws -> (runs: Int, crashes: Int) {
        guard let binary = meshformBinary else { Issue.record("the meshform executable was not built next to the tests"); return (0, 0) }
        var crashes = 0
        for (i, text) in texts.enumerated() {
            let path = dir.appendingPathComponent("sample-\(i).yaml").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try await ChildProcess.run(binary, ["validate", path, "--quiet"],
                                               environment: ProcessInfo.processInfo.environment.merging(guideEnvironment) { _, b in b })
            // ChildProcess reports a signal as 128 + its number, as a shell does.
            if ![0, 1].contains(r.status) { crashes += 1 }
        }
        return (texts.count, crashes)
    }

    static var meshformBinary: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("meshform").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let fallback = TestPaths.root.appendingPathComponent(".build/debug/meshform").path
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }
}

/// Damaged copies of a real state file: each must open (and read) or be refused with a `StateError`
/// naming the file, and a refused file must be left byte for byte as it was.
struct StateFuzz {
    let dir: URL
    var template: Data = Data()

    struct Tally {
        var cases = 0, refused = 0, hangs = 0, unlocated = 0, touched = 0
        var examples: [String] = []
    }

    init(dir: URL) throws {
        self.dir = dir
        let path = dir.appendingPathComponent("template.db").path
        do {
            let store = try StateStore.open(path: path)
            var objects: [ManagedObject] = []
            for i in 0..<20 {
                let body: JSON = ["apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": ["name": .string("cm\(i)"), "namespace": "sample"], "data": ["k": .string("\(i)")]]
                objects.append(ManagedObject(address: "config/core/ConfigMap/sample/cm\(i)", cluster: "config", apiVersion: "v1",
                                             kind: "ConfigMap", namespace: "sample", name: "cm\(i)", applied: body,
                                             dependencies: i > 0 ? ["config/core/ConfigMap/sample/cm\(i - 1)"] : []))
            }
            try store.upsert(objects, run: nil)
            let run = try store.beginRun(kind: .apply, who: "fuzz", configHash: "h")
            try store.finishRun(run, outcome: .succeeded, message: nil)
        }
        template = try Data(contentsOf: URL(fileURLWithPath: path))
    }

    static let sqlEdits = [
        "UPDATE meta SET value = 'abc' WHERE key = 'serial'", "UPDATE meta SET value = -3 WHERE key = 'serial'",
        "UPDATE meta SET value = 1.5 WHERE key = 'serial'", "DELETE FROM meta WHERE key = 'serial'",
        "DELETE FROM meta WHERE key = 'lineage'", "UPDATE meta SET value = 'x' WHERE key = 'secret_key'",
        "UPDATE bodies SET text = '[1,2,3]' WHERE rowid = 3", "UPDATE bodies SET text = 'not json' WHERE rowid = 1",
        "UPDATE bodies SET text = '{}' WHERE rowid = 2", "DELETE FROM bodies WHERE rowid = 4", "UPDATE objects SET applied_hash = 'x' WHERE rowid = 2",
        "UPDATE objects SET dependencies = '{\"a\":1}' WHERE rowid = 4",
        "UPDATE objects SET dependencies = '[1]' WHERE rowid = 5", "UPDATE objects SET created_at = 'yesterday' WHERE rowid = 6",
        "UPDATE runs SET serial_before = 'x'", "DROP TABLE objects", "DROP TABLE meta", "INSERT INTO grdb_migrations VALUES ('v9-future')",
        "UPDATE meta SET value = 'other-format' WHERE key = 'format'", "CREATE TABLE extra (x)", "DELETE FROM grdb_migrations",
        "UPDATE objects SET name = x'00ff' WHERE rowid = 7", "UPDATE objects SET sensitive = 'maybe' WHERE rowid = 8",
    ]

    func run(cases: Int) async throws -> Tally {
        var t = Tally()
        let clock = ContinuousClock()
        await propertyCheck(count: cases, input: Gen.int(in: 0...3), Gen.int(in: 0...1_000_000), Gen.int(in: 0...1_000_000)) { op, a, b in
            let path = dir.appendingPathComponent("state-\(t.cases).db").path
            defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
            do { try damage(op: op, a: a, b: b, path: path) } catch {
                t.examples.append("could not prepare case: \(error)"); t.unlocated += 1; t.cases += 1; return
            }
            let before = FileManager.default.contents(atPath: path)
            var refusedHere = false
            let took = clock.measure {
                for open in [{ try StateStore.openReadOnly(path: path) }, { try StateStore.open(path: path, create: true) }] {
                    do {
                        let store = try open()
                        _ = try store.snapshot()
                    } catch let e as StateError {
                        if !e.description.contains(path) { t.unlocated += 1; t.examples.append("no path: \(e)") }
                        if !refusedHere, FileManager.default.contents(atPath: path) != before {
                            t.touched += 1; t.examples.append("changed by a refused open: op \(op): \(e)")
                        }
                        refusedHere = true
                    } catch {
                        t.unlocated += 1; t.examples.append("not a StateError: \(type(of: error)): \(error)")
                    }
                    if refusedHere { break }
                }
            }
            t.cases += 1
            if refusedHere { t.refused += 1 }
            if took > .seconds(FuzzTests.hangSeconds) { t.hangs += 1 }
        }
        return t
    }

    /// Writes a damaged copy of the template to `path`.
    func damage(op: Int, a: Int, b: Int, path: String) throws {
        var bytes = template
        switch op {
        case 0: bytes = bytes.prefix(a % (bytes.count + 1))                       // truncated (0 bytes included)
        case 1:                                                                   // bytes overwritten
            let at = a % bytes.count
            let n = min(1 + b % 512, bytes.count - at)
            bytes.replaceSubrange(at..<(at + n), with: (0..<n).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ b) })
        case 2:                                                                   // someone else's text
            bytes = Data("# not a state file \(a)\n".utf8)
        default:                                                                  // values a hand edit leaves
            try bytes.write(to: URL(fileURLWithPath: path))
            let q = try DatabaseQueue(path: path)
            try q.writeWithoutTransaction { db in try db.execute(sql: Self.sqlEdits[a % Self.sqlEdits.count]) }
            try q.close()
            return
        }
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}
