import Foundation
import KubeModel

/// What `--data-dir` keeps: the identity (CA, keys, tokens; file mode 0600) and a snapshot of every
/// object, written when something changed (at most every 200 ms) and at stop, read back at start.
struct Snapshot: Codable {
    struct Entry: Codable { var storageKey: String; var namespace: String; var name: String; var stored: StoredObject }
    var revision: Int
    var tokens: [String: String]
    var objects: [Entry]
}

enum Persistence {
    static func identityPath(_ dir: String) -> String { (dir as NSString).appendingPathComponent("identity.json") }
    static func snapshotPath(_ dir: String) -> String { (dir as NSString).appendingPathComponent("objects.json") }

    static func loadOrCreateIdentity(dir: String?, name: String) throws -> SimIdentity {
        guard let dir else { return try SimIdentity.generate(name: name) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = identityPath(dir)
        if let data = FileManager.default.contents(atPath: path) { return try JSONDecoder().decode(SimIdentity.self, from: data) }
        let id = try SimIdentity.generate(name: name)
        try writePrivate(try JSONEncoder().encode(id), to: path)
        return id
    }

    static func writePrivate(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard Foundation.rename(tmp, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }

    /// Loads the snapshot into the store (lock held by the caller, before serving), re-serving stored CRDs' kinds.
    static func load(dir: String, into store: StoreState) throws {
        guard let data = FileManager.default.contents(atPath: snapshotPath(dir)) else { return }
        let snap = try JSONDecoder().decode(Snapshot.self, from: data)
        store.revision = snap.revision
        store.tokens = snap.tokens
        for e in snap.objects {
            store.buckets[e.storageKey, default: [:]][e.namespace, default: [:]][e.name] = e.stored
            if e.storageKey == "customresourcedefinitions.apiextensions.k8s.io",
               e.stored.object[path: ["status", "conditions"]] != nil, let t = ResourceCatalog.fromCRD(e.stored.object) {
                store.catalog.add(t)
            }
        }
        store.serviceIPCounter = store.buckets["services"]?.values.reduce(0) { $0 + $1.count } ?? 0
    }

    /// Writes the snapshot if anything changed since the last one.
    static func saveIfDirty(dir: String, store: Store) throws {
        let snap: Snapshot? = store.withLock { st in
            guard st.dirty else { return nil }
            st.dirty = false
            var entries: [Snapshot.Entry] = []
            for (key, byNS) in st.buckets { for (ns, objs) in byNS { for (name, o) in objs {
                entries.append(.init(storageKey: key, namespace: ns, name: name, stored: o))
            } } }
            return Snapshot(revision: st.revision, tokens: st.tokens, objects: entries)
        }
        guard let snap else { return }
        try writePrivate(try JSONEncoder().encode(snap), to: snapshotPath(dir))
    }
}
