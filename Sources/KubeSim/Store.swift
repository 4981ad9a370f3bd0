import Foundation
import Synchronization
import KubeModel

/// One field manager's entry: who, how (Apply or Update), and the field paths it owns.
struct ManagerEntry: Codable, Equatable, Sendable {
    var manager: String
    var operation: String
    var apiVersion: String
    var time: String
    var paths: Set<String>
}

/// An object as stored: the JSON the server returns, and the field managers behind its managedFields.
struct StoredObject: Codable, Sendable {
    var object: JSON
    var managers: [ManagerEntry]
}

/// A change to an object, as a watch reports it.
struct WatchEvent: Sendable {
    var type: String
    var storageKey: String
    var namespace: String
    var name: String
    var resourceVersion: Int
    var object: JSON
}

/// Who may watch what: one kind, optionally one namespace and one name.
struct WatchFilter: Sendable {
    var storageKey: String
    var namespace: String?
    var name: String?
    var selector: LabelSelector?

    func matches(_ e: WatchEvent) -> Bool {
        e.storageKey == storageKey && (namespace == nil || namespace == e.namespace) && (name == nil || name == e.name)
            && (selector?.matches(e.object.labels) ?? true)
    }
}

/// Everything a KubeSim holds, behind one lock: the catalog of kinds, the objects, the resourceVersion
/// counter, issued tokens, recent events and open watches. Every operation is short and in memory, so a
/// single lock is simpler than finer locking and fast enough for thousands of requests per second.
final class Store: Sendable {
    private let state: Mutex<StoreState>

    init(simIndex: Int, controllers: ControllerSettings) {
        state = Mutex(StoreState(simIndex: simIndex, controllers: controllers))
        state.withLock { $0.owner = self }
    }

    /// Runs `body` with the lock held, on the state. The state never leaves the lock: what `body` returns is a copy.
    func withLock<T: Sendable, E: Error>(_ body: (StoreState) throws(E) -> T) throws(E) -> T {
        try state.withLock { (s: inout StoreState) throws(E) -> T in try body(s) }
    }
}

/// What a Store's lock guards (see `Store`). Only ever touched through `Store.withLock`; its methods are
/// called with the lock held.
final class StoreState {
    var catalog = ResourceCatalog()
    /// storageKey -> namespace ("" for cluster-scoped) -> name -> object.
    var buckets: [String: [String: [String: StoredObject]]] = [:]
    var revision = 1
    /// Changes before this revision are forgotten (etcd's compaction): older watch starts and continue
    /// tokens answer 410 Expired. It moves as the event window slides, or on `POST /admin/compact`.
    var compactedRevision = 0
    var tokens: [String: String] = [:]      // token -> user name
    var history: [WatchEvent] = []
    var watchers: [UUID: (WatchFilter, AsyncStream<WatchEvent>.Continuation)] = [:]
    var dirty = false
    let simIndex: Int
    var serviceIPCounter = 0
    /// The controllers' settings, and what they remember between runs (they run with the lock held).
    let controllers: ControllerSettings
    var lbCounter = 0
    var scheduled = Set<String>()
    /// ReplicaSets (uid) whose pods are being created through admission.
    var creatingPods = Set<String>()
    /// The Store whose lock guards this state: controllers take it again for work they do later.
    weak var owner: Store?
    /// The server in front of it: its run-time settings, and admission for the pods controllers create.
    weak var server: Server?

    init(simIndex: Int, controllers: ControllerSettings) { self.simIndex = simIndex; self.controllers = controllers }

    // MARK: reading (call with the lock held)

    func stored(_ t: ResourceType, _ ns: String, _ name: String) -> StoredObject? {
        buckets[t.storageKey]?[t.namespaced ? ns : ""]?[name]
    }

    func namespaceExists(_ ns: String) -> JSON? {
        buckets["namespaces"]?[""]?[ns]?.object
    }

    /// Objects of one kind, in one namespace or all, sorted by namespace then name (the order `continue` pages in).
    func objects(_ t: ResourceType, namespace: String?) -> [(String, String, JSON)] {
        guard let byNS = buckets[t.storageKey] else { return [] }
        var out: [(String, String, JSON)] = []
        if let ns = namespace, t.namespaced {
            for (name, o) in byNS[ns] ?? [:] { out.append((ns, name, o.object)) }
        } else {
            for (ns, objs) in byNS { for (name, o) in objs { out.append((ns, name, o.object)) } }
        }
        out.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return out
    }

    // MARK: writing (call with the lock held)

    func nextRevision() -> Int { revision += 1; return revision }

    /// Forgets the history up to now, as an etcd compaction does.
    func compact() { compactedRevision = revision; history.removeAll() }

    /// Stores an object (nil deletes), records the event and tells watchers and controllers.
    func commit(_ t: ResourceType, _ ns: String, _ name: String, _ value: StoredObject?, type: String, object: JSON) {
        let nsKey = t.namespaced ? ns : ""
        if let value { buckets[t.storageKey, default: [:]][nsKey, default: [:]][name] = value }
        else { buckets[t.storageKey]?[nsKey]?[name] = nil }
        dirty = true
        let rv = Int(object.resourceVersion ?? "") ?? revision
        let event = WatchEvent(type: type, storageKey: t.storageKey, namespace: nsKey, name: name, resourceVersion: rv, object: object)
        history.append(event)
        if history.count > 4096 {
            history.removeFirst(1024)
            compactedRevision = (history.first?.resourceVersion ?? revision) - 1
        }
        for (_, (filter, cont)) in watchers where filter.matches(event) { cont.yield(event) }
        react(t, object, type)
    }
}
