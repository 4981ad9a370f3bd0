import ArgumentParser
import Foundation
import KubeModel
import StateStore

/// `meshform state`: read and repair the state file without touching any cluster.
///
/// Every subcommand reads the file given by `--state PATH`; without it, the one `.db` file under
/// `./state/` (the default location, `state/<mesh>.db`). With none or several there, it asks for `--state`.
/// `list`, `show` and `history` open the file read-only: no lock, so they never block (or wait for) an apply.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Inspect the state file: managed objects, run history, the write lock.",
        discussion: """
            The state is a SQLite file or a PostgreSQL schema (schema and guarantees: docs/state.md). Secret values are stored only \
            as keyed hashes and are shown as (sensitive).
            """,
        subcommands: [StateList.self, StateShow.self, StateHistory.self, StateUnlock.self, StateMigrate.self]
    )
}

/// A state command's own error (no such address, no state file found): exit code 1, like every error.
struct StateCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The `--state PATH` option shared by the state subcommands.
struct StateFileOption: ParsableArguments {
    @Option(name: .customLong("state"), help: ArgumentHelp("State file or postgres:// URL (default: $MESHFORM_STATE, else the only .db under ./state/).", valueName: "PATH|URL"))
    var path: String?

    /// The state to use: `--state`, `MESHFORM_STATE`, or the only `state/*.db`.
    func resolve() throws -> String {
        if let path = stateLocation(path) { return try Self.namingSchema(path) }
        let dir = "state"
        let dbs = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".db") }.sorted()
        switch dbs.count {
        case 1: return dir + "/" + dbs[0]
        case 0: throw StateCommandError("no state file under ./state/; pass --state PATH")
        default: throw StateCommandError("several state files under ./state/ (\(dbs.joined(separator: ", "))); pass --state PATH")
        }
    }
}

extension StateFileOption {
    /// A PostgreSQL URL must name its schema here: without a mesh file there is no mesh name to default to (plan and
    /// apply use the mesh's name), and guessing would show or change another mesh's state.
    static func namingSchema(_ location: String) throws -> String {
        if StateLocation.isURL(location), URLComponents(string: location)?.queryItems?.contains(where: { $0.name == "schema" }) != true {
            throw StateCommandError("\(location) names no schema; add &schema=NAME (plan and apply use the mesh's name, lower-cased)")
        }
        return location
    }
}

struct StateList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the addresses of every managed object, one per line.")
    @OptionGroup var state: StateFileOption
    @Option(help: "Only objects in this cluster.") var cluster: String?
    @Flag(help: "JSON: an array of {address, cluster, apiVersion, kind, namespace, name, uid, sensitive}.") var json = false

    func run() throws {
        let store = try StateStore.openReadOnly(path: try state.resolve())
        let objects = try store.objects().filter { cluster == nil || $0.cluster == cluster }
        if json {
            let rows: [JSON] = objects.map { o in
                ["address": .string(o.address), "cluster": .string(o.cluster), "apiVersion": .string(o.apiVersion),
                 "kind": .string(o.kind), "namespace": o.namespace.map(JSON.string) ?? .null, "name": .string(o.name),
                 "uid": o.uid.map(JSON.string) ?? .null, "sensitive": .bool(o.sensitive || o.kind == "Secret")]
            }
            print(JSON.array(rows).jsonString)
        } else {
            for o in objects { print(o.address) }
        }
    }
}

struct StateShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one managed object: its live identity and what Meshform applied.",
        discussion: "Secret data, stringData and kubectl's last-applied annotation print as (sensitive).")
    @OptionGroup var state: StateFileOption
    @Argument(help: "The object's address, as `meshform state list` prints it.") var address: String
    @Flag(help: "JSON: the object as recorded, secret values masked.") var json = false

    func run() throws {
        let path = try state.resolve()
        let store = try StateStore.openReadOnly(path: path)
        guard let o = try store.object(address: address) else {
            throw StateCommandError("no object \(address) in state file \(path); see `meshform state list`")
        }
        let body = Self.hidingSecretValues(o.applied)
        if json {
            var j: JSON = ["address": .string(o.address), "cluster": .string(o.cluster), "uid": o.uid.map(JSON.string) ?? .null,
                           "resourceVersion": o.resourceVersion.map(JSON.string) ?? .null, "appliedHash": .string(o.appliedHash),
                           "dependencies": .array(o.dependencies.map(JSON.string)), "sensitive": .bool(o.sensitive || o.kind == "Secret"),
                           "createdAt": .string(Self.time(o.createdAt)), "updatedAt": .string(Self.time(o.updatedAt))]
            j["applied"] = body
            print(String(decoding: j.encoded(pretty: true), as: UTF8.self))
            return
        }
        print("# \(o.address)")
        print("cluster:          \(o.cluster)")
        print("object:           \(o.apiVersion) \(o.kind) \(o.namespace.map { $0 + "/" } ?? "")\(o.name)")
        print("uid:              \(o.uid ?? "(unknown)")")
        print("resourceVersion:  \(o.resourceVersion ?? "(unknown)")")
        print("applied hash:     \(o.appliedHash)")
        print("dependencies:     \(o.dependencies.isEmpty ? "(none)" : o.dependencies.joined(separator: ", "))")
        if o.sensitive || o.kind == "Secret" { print("sensitive:        true") }
        print("created:          \(Self.time(o.createdAt))")
        print("updated:          \(Self.time(o.updatedAt))")
        print("applied:")
        for line in YAMLDocuments.serialize(body).split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            print("  " + line)
        }
    }

    /// Secret values are already keyed hashes in state; even those are not shown.
    static func hidingSecretValues(_ o: JSON) -> JSON {
        SecretBody.replacingValues(in: o) { _, _ in "(sensitive)" }
    }

    static func time(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
}

struct StateHistory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "List runs, newest first: kind, outcome, who, when, serial before -> after.",
        discussion: "Also says when the state is locked, or when an apply did not finish (run `meshform recover`).")
    @OptionGroup var state: StateFileOption
    @Option(help: "How many runs to show.") var limit = 20
    @Flag(help: "JSON: {lineage, serial, lock, unfinishedRun, runs: [...]}.") var json = false

    func run() throws {
        let store = try StateStore.openReadOnly(path: try state.resolve())
        let snap = try store.snapshot()
        let runs = try store.runs(limit: limit)
        if json {
            struct Out: Encodable { let lineage: String; let serial: Int; let lock: StateLock?; let unfinishedRun: Run?; let runs: [Run] }
            let out = Out(lineage: snap.lineage, serial: snap.serial, lock: snap.lock, unfinishedRun: snap.unfinishedRun, runs: runs)
            print(String(decoding: try CodableJSON.encode(out, pretty: true), as: UTF8.self))
            return
        }
        print("lineage \(snap.lineage), serial \(snap.serial), \(snap.objects.count) objects")
        if let l = snap.lock { print("LOCKED by \(l.summary)") }
        if let r = snap.unfinishedRun, snap.lock == nil {
            print("UNFINISHED \(r.kind.rawValue) \(r.id) by \(r.who) since \(StateShow.time(r.startedAt)): run `meshform recover --rollback` or `--continue`")
        }
        if runs.isEmpty { print("no runs recorded"); return }
        let header = ["STARTED", "KIND", "OUTCOME", "WHO", "SERIAL", "DURATION", "RUN"]
        var rows = [header]
        for r in runs {
            let outcome = r.outcome?.rawValue ?? (r.finishedAt == nil ? "unfinished" : "-")
            let serial = "\(r.serialBefore) -> \(r.serialAfter.map(String.init) ?? "?")"
            let duration = r.finishedAt.map { String(format: "%.1fs", $0.timeIntervalSince(r.startedAt)) } ?? "-"
            rows.append([StateShow.time(r.startedAt), r.kind.rawValue, outcome, r.who, serial, duration, r.id.rawValue])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
        }
        for r in runs where r.outcome != .succeeded && r.message != nil { print("\(r.id): \(r.message!)") }
    }
}

struct StateUnlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock", abstract: "Break a stale write lock, by its ID.",
        discussion: """
            Use only when the run holding the lock is dead (the locked error names it, with its pid and \
            host). The ID must be the current lock's, so a lock taken since you looked is never broken by \
            mistake. A run that died mid-apply also left an unfinished journal: `meshform state history` \
            shows it.
            """)
    @OptionGroup var state: StateFileOption
    @Argument(help: "The lock ID, as printed in the locked error or `meshform state history`.") var id: String

    func run() throws {
        let path = try state.resolve()
        let store = try StateStore.open(path: path, create: false)
        try store.forceUnlock(id: id)
        print("Lock \(id) on \(path) released.")
    }
}

struct StateMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Move the state to another backend (SQLite file <-> PostgreSQL), lineage and serial kept.",
        discussion: """
            Copies objects, runs and journals, drift history and clusters, holding both write locks; the copy is one \
            transaction on the target. The target must be empty or hold the same lineage; one of another lineage is \
            refused and left untouched. The source is left as it was: remove it yourself once you use the target.
            """)
    @OptionGroup var state: StateFileOption
    @Option(name: .customLong("to"), help: ArgumentHelp("The target: a file path or a postgres:// URL.", valueName: "PATH|URL"))
    var to: String

    func run() async throws {
        let from = try state.resolve()
        let source = try StateStore.open(path: from, create: false)
        let target = try StateStore.open(path: StateFileOption.namingSchema(to), create: true)
        let (objects, runs) = try await source.migrate(to: target, who: StateStore.currentUser())
        print("Migrated \(source.path) to \(target.path): lineage \(source.lineage), serial \(try source.serial()), \(objects) objects, \(runs) runs.")
    }
}
