import Foundation
import Crypto
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
    public var applied: JSON
    /// Hash of `applied` (see `StateStore.contentHash`). For a Secret passed in unmasked, the store masks it
    /// and recomputes this hash over the masked body.
    public var appliedHash: String
    /// Addresses this object depends on.
    public var dependencies: [String]
    /// Shown as `(sensitive)`; Secrets are always treated as sensitive by the store's masking.
    public var sensitive: Bool
    /// When Meshform first recorded the object (kept across updates; millisecond precision).
    public var createdAt: Date
    public var updatedAt: Date

    public init(address: String, cluster: String, apiVersion: String, kind: String, namespace: String?, name: String,
                uid: String? = nil, resourceVersion: String? = nil, applied: JSON, appliedHash: String? = nil,
                dependencies: [String] = [], sensitive: Bool = false, createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.address = address; self.cluster = cluster; self.apiVersion = apiVersion; self.kind = kind
        self.namespace = namespace; self.name = name; self.uid = uid; self.resourceVersion = resourceVersion
        self.applied = applied; self.appliedHash = appliedHash ?? StateStore.contentHash(applied)
        self.dependencies = dependencies; self.sensitive = sensitive; self.createdAt = createdAt; self.updatedAt = updatedAt
    }

    init(row: SQLRow) throws {
        address = row.text("address"); cluster = row.text("cluster"); apiVersion = row.text("api_version"); kind = row.text("kind")
        namespace = row.optText("namespace"); name = row.text("name"); uid = row.optText("uid")
        resourceVersion = row.optText("resource_version")
        applied = try JSON.parse(Data(row.text("applied").utf8))
        appliedHash = row.text("applied_hash")
        dependencies = try JSONDecoder().decode([String].self, from: Data(row.text("dependencies").utf8))
        sensitive = row.int("sensitive") != 0
        createdAt = Millis.date(row.int("created_at")); updatedAt = Millis.date(row.int("updated_at"))
    }
}

extension StateStore {
    /// `sha256:<hex>` of the value's canonical (sorted-key) JSON: equal values always hash equal.
    public static func contentHash(_ value: JSON) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: Data(value.canonicalText.utf8)))
    }

    /// Every managed object, ordered by address.
    public func objects() throws -> [ManagedObject] {
        try read { try Self.objects($0) }
    }

    /// The managed object at `address`, or nil.
    public func object(address: String) throws -> ManagedObject? {
        try read { tx in try tx.row("SELECT * FROM objects WHERE address = ?", [address]).map(ManagedObject.init(row:)) }
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
        try tx.rows("SELECT * FROM objects ORDER BY address").map(ManagedObject.init(row:))
    }

    /// The object as it may be stored: masked, and its hash recomputed when masking changed the body.
    func masked(_ o: ManagedObject) -> ManagedObject {
        var o = o
        let m = maskSecrets(o.applied)
        if m != o.applied { o.applied = m; o.appliedHash = Self.contentHash(m) }
        return o
    }

    func insert(_ o: ManagedObject, run: RunID?, _ tx: any SQLTx) throws {
        try tx.execute("""
            INSERT INTO objects (address, cluster, api_version, kind, namespace, name, uid, resource_version, applied,
                                 applied_hash, dependencies, sensitive, created_at, updated_at, last_run)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(address) DO UPDATE SET
                cluster = excluded.cluster, api_version = excluded.api_version, kind = excluded.kind,
                namespace = excluded.namespace, name = excluded.name, uid = excluded.uid,
                resource_version = excluded.resource_version, applied = excluded.applied,
                applied_hash = excluded.applied_hash, dependencies = excluded.dependencies,
                sensitive = excluded.sensitive, updated_at = excluded.updated_at, last_run = excluded.last_run
            """, [o.address, o.cluster, o.apiVersion, o.kind, o.namespace, o.name, o.uid, o.resourceVersion,
                             o.applied.canonicalText, o.appliedHash, o.dependencies, o.sensitive, Millis.from(o.createdAt),
                             Millis.from(o.updatedAt), run?.rawValue])
    }
}
