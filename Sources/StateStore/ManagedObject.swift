import Foundation
import KubeModel

/// One Kubernetes object Meshform manages, as the state remembers it: where it lives, its live identity
/// when last seen, and exactly what Meshform sent (so plan and drift compare only the fields Meshform owns).
public struct ManagedObject: Codable, Sendable, Equatable {
    /// Stable address, e.g. `remote1/networking.istio.io/Gateway/external-istiod/external-istiod-gw`.
    public var address: String
    public var cluster: String
    public var apiVersion: String
    public var kind: String
    public var namespace: String?
    public var name: String
    /// The live object's `metadata.uid` after apply (a different uid later means it was deleted and recreated).
    public var uid: String?
    public var resourceVersion: String?
    /// What Meshform sent. For Secrets, data values are keyed hashes (`maskSecrets`), never clear text.
    /// Read from the state, it stays the stored text until read here, and is parsed at each reading (a plan that finds
    /// the object unchanged by its hash never parses it; drift parses one object at a time): read it once where needed.
    /// Setting it sets `appliedHash` too: the state stores each body under its hash (`bodies`), so the two never disagree.
    public var applied: JSON {
        get { body.value }
        set { body = .value(newValue); appliedHash = StateStore.contentHash(newValue) }
    }
    private var body: AppliedBody
    /// `applied` as the state stores it (canonical JSON text), without parsing it when it was read as text.
    var appliedText: String {
        switch body {
        case .text(let t): return t
        case .rendered(let b): return b.text
        case .value(let v): return v.canonicalText
        }
    }
    /// Hash of `applied` (see `StateStore.contentHash`). For a Secret passed in unmasked, the store masks it
    /// and recomputes this hash over the masked body.
    public private(set) var appliedHash: String
    /// Addresses this object depends on.
    public var dependencies: [String]
    /// Shown as `(sensitive)`; Secrets are always treated as sensitive by the store's masking.
    public var sensitive: Bool
    /// When Meshform first recorded the object (kept across updates; millisecond precision).
    public var createdAt: Date
    public var updatedAt: Date

    /// `appliedHash`: `StateStore.contentHash(applied)`, when the caller has already computed it (computed here if nil).
    public init(address: String, cluster: String, apiVersion: String, kind: String, namespace: String?, name: String,
                uid: String? = nil, resourceVersion: String? = nil, applied: JSON, appliedHash: String? = nil,
                dependencies: [String] = [], sensitive: Bool = false, createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.address = address; self.cluster = cluster; self.apiVersion = apiVersion; self.kind = kind
        self.namespace = namespace; self.name = name; self.uid = uid; self.resourceVersion = resourceVersion
        self.body = .value(applied); self.appliedHash = appliedHash ?? StateStore.contentHash(applied)
        self.dependencies = dependencies; self.sensitive = sensitive; self.createdAt = createdAt; self.updatedAt = updatedAt
    }

    /// An object whose body the caller has masked and rendered already (`applied` is `stored.value`): the store writes
    /// that text and hash instead of rendering the value again (an Istio CRD is a few hundred KB; apply renders each
    /// body once per step, #17).
    public init(address: String, cluster: String, apiVersion: String, kind: String, namespace: String?, name: String,
                uid: String? = nil, resourceVersion: String? = nil, stored: StoredBody,
                dependencies: [String] = [], sensitive: Bool = false, createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.init(address: address, cluster: cluster, apiVersion: apiVersion, kind: kind, namespace: namespace, name: name,
                  uid: uid, resourceVersion: resourceVersion, applied: stored.value, appliedHash: stored.hash,
                  dependencies: dependencies, sensitive: sensitive, createdAt: createdAt, updatedAt: updatedAt)
        body = .rendered(stored)
    }

    /// `applied`: the text of the body the row names (`applied_hash`), read from `bodies`; the same text for every
    /// object that applied an equal body (the same CRD in every cluster), so it is held once.
    init(row: SQLRow, applied: String?) throws {
        address = row.text("address"); cluster = row.text("cluster"); apiVersion = row.text("api_version"); kind = row.text("kind")
        namespace = row.optText("namespace"); name = row.text("name"); uid = row.optText("uid")
        resourceVersion = row.optText("resource_version")
        appliedHash = row.text("applied_hash")
        // Every body is checked to be a JSON object when the state is opened (Schema.valueProblem), so it parses later.
        guard let applied else {
            throw StateError.corrupt(path: "", detail: "objects row \(address): its applied body \(appliedHash) is missing")
        }
        body = .text(applied)
        guard let deps = try JSON.parse(Data(row.text("dependencies").utf8)).array?.compactMap(\.string) else {
            throw StateError.corrupt(path: "", detail: "objects row \(address): dependencies is not a JSON list")
        }
        dependencies = deps
        sensitive = row.int("sensitive") != 0
        createdAt = Millis.date(row.int("created_at")); updatedAt = Millis.date(row.int("updated_at"))
    }

    enum CodingKeys: String, CodingKey {
        case address, cluster, apiVersion, kind, namespace, name, uid, resourceVersion, applied, appliedHash, dependencies,
             sensitive, createdAt, updatedAt
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decode(String.self, forKey: .address); cluster = try c.decode(String.self, forKey: .cluster)
        apiVersion = try c.decode(String.self, forKey: .apiVersion); kind = try c.decode(String.self, forKey: .kind)
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace); name = try c.decode(String.self, forKey: .name)
        uid = try c.decodeIfPresent(String.self, forKey: .uid)
        resourceVersion = try c.decodeIfPresent(String.self, forKey: .resourceVersion)
        body = .value(try c.decode(JSON.self, forKey: .applied)); appliedHash = try c.decode(String.self, forKey: .appliedHash)
        dependencies = try c.decode([String].self, forKey: .dependencies); sensitive = try c.decode(Bool.self, forKey: .sensitive)
        createdAt = try c.decode(Date.self, forKey: .createdAt); updatedAt = try c.decode(Date.self, forKey: .updatedAt)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address); try c.encode(cluster, forKey: .cluster)
        try c.encode(apiVersion, forKey: .apiVersion); try c.encode(kind, forKey: .kind)
        try c.encodeIfPresent(namespace, forKey: .namespace); try c.encode(name, forKey: .name)
        try c.encodeIfPresent(uid, forKey: .uid); try c.encodeIfPresent(resourceVersion, forKey: .resourceVersion)
        try c.encode(applied, forKey: .applied); try c.encode(appliedHash, forKey: .appliedHash)
        try c.encode(dependencies, forKey: .dependencies); try c.encode(sensitive, forKey: .sensitive)
        try c.encode(createdAt, forKey: .createdAt); try c.encode(updatedAt, forKey: .updatedAt)
    }

    public static func == (a: ManagedObject, b: ManagedObject) -> Bool {
        a.address == b.address && a.cluster == b.cluster && a.apiVersion == b.apiVersion && a.kind == b.kind
            && a.namespace == b.namespace && a.name == b.name && a.uid == b.uid && a.resourceVersion == b.resourceVersion
            && a.appliedHash == b.appliedHash && a.dependencies == b.dependencies && a.sensitive == b.sensitive
            && a.createdAt == b.createdAt && a.updatedAt == b.updatedAt && a.body.isEqual(to: b.body)
    }
}

/// `ManagedObject.applied`: a value, or the state's text of one, parsed when read.
private enum AppliedBody: Sendable {
    case value(JSON)
    case text(String)
    /// A masked value with its rendering (`ManagedObject.init(...stored:...)`).
    case rendered(StoredBody)

    var value: JSON {
        switch self {
        case .value(let v): return v
        case .rendered(let b): return b.value
        case .text(let t): return (try? JSON.parse(Data(t.utf8))) ?? .null
        }
    }

    func isEqual(to other: AppliedBody) -> Bool {
        if case .text(let a) = self, case .text(let b) = other, a == b { return true }
        return value == other.value
    }
}

extension StateStore {
    /// Every managed object, ordered by address.
    public func objects() throws -> [ManagedObject] {
        try read { try Self.objects($0) }
    }

    /// The managed object at `address`, or nil.
    public func object(address: String) throws -> ManagedObject? {
        try read { tx in
            try tx.row("SELECT o.*, b.text AS applied FROM objects o LEFT JOIN bodies b ON b.hash = o.applied_hash WHERE o.address = ?",
                       [address]).map { try ManagedObject(row: $0, applied: $0.optText("applied")) }
        }
    }

    /// Records (creates or replaces) one managed object and bumps the serial, in one transaction.
    /// Secret values are masked before they are written, whatever the caller passed.
    public func upsert(_ o: ManagedObject, run: RunID?) throws {
        try upsert([o], run: run)
    }

    /// Records several objects with a single serial bump, in one transaction (all or none).
    public func upsert(_ objects: [ManagedObject], run: RunID?) throws {
        guard !objects.isEmpty else { return }
        let masked = objects.map(masked)
        try write { tx in
            for o in masked { try insert(o, run: run, tx) }
            _ = try Self.bumpSerial(tx)
        }
    }

    /// Forgets the object at `address` (after it was deleted, or on `state rm`) and bumps the serial.
    /// Removing an address that is not in state is a no-op that does not bump the serial.
    public func remove(address: String, run: RunID?) throws {
        try write { tx in try removeObject(address, tx) }
    }

    func removeObject(_ address: String, _ tx: any SQLTx) throws {
        if try tx.execute("DELETE FROM objects WHERE address = ?", [address]) > 0 { _ = try Self.bumpSerial(tx) }
    }

    static func objects(_ tx: any SQLTx) throws -> [ManagedObject] {
        // Each distinct body once, then the objects: a fleet's objects name a few hundred bodies between them.
        var bodies: [String: String] = [:]
        try tx.forEachRow("SELECT hash, text FROM bodies WHERE hash IN (SELECT applied_hash FROM objects)") {
            bodies[$0.text("hash")] = $0.text("text")
        }
        var objects: [ManagedObject] = []
        try tx.forEachRow("SELECT * FROM objects ORDER BY address") {
            objects.append(try ManagedObject(row: $0, applied: bodies[$0.text("applied_hash")]))
        }
        return objects
    }

    /// The object as it may be stored: masked, and its hash recomputed when masking changed the body.
    func masked(_ o: ManagedObject) -> ManagedObject {
        // Only a Secret is masked (`SecretBody`): anything else is stored as given, without comparing it with itself.
        guard SecretBody.isSecret(o.applied) else { return o }
        var o = o
        let m = maskSecrets(o.applied)
        if m != o.applied { o.applied = m }
        return o
    }

    func insert(_ o: ManagedObject, run: RunID?, _ tx: any SQLTx) throws {
        try Self.storeBody(hash: o.appliedHash, text: o.appliedText, tx)
        try tx.execute("""
            INSERT INTO objects (address, cluster, api_version, kind, namespace, name, uid, resource_version,
                                 applied_hash, dependencies, sensitive, created_at, updated_at, last_run)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(address) DO UPDATE SET
                cluster = excluded.cluster, api_version = excluded.api_version, kind = excluded.kind,
                namespace = excluded.namespace, name = excluded.name, uid = excluded.uid,
                resource_version = excluded.resource_version, applied_hash = excluded.applied_hash, dependencies = excluded.dependencies,
                sensitive = excluded.sensitive, updated_at = excluded.updated_at, last_run = excluded.last_run
            """, [o.address, o.cluster, o.apiVersion, o.kind, o.namespace, o.name, o.uid, o.resourceVersion,
                             o.appliedHash, o.dependencies, o.sensitive, Millis.from(o.createdAt),
                             Millis.from(o.updatedAt), run?.rawValue])
    }
}
