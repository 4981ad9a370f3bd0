import Foundation
import Crypto
import KubeModel

/// Object bodies, stored once by content (`bodies(hash, text)`, schema v5): the objects' `applied` and the journal's
/// `before`/`after` name a body by its hash.
///
/// Why (#17): a mesh applies the same bodies in every cluster (Istio's CRDs are most of the bytes), and each journal
/// entry repeats the body it applied. At 100 remotes the state held 61 MB of object bodies, 651 KB of them distinct,
/// and an apply from nothing wrote 108 MB of journal text; every open checks all of it. Stored by hash, the file holds
/// each distinct body once, however many clusters and runs refer to it.
///
/// A body's hash is `StateStore.contentHash` of its value, which is SHA-256 of its canonical text: the text stored is
/// always that canonical text, so `bodyHash(text)` of a stored body equals the hash it is stored under (the
/// integrity check verifies it).
extension StateStore {
    /// `sha256:<hex>` of the value's canonical (sorted-key) JSON: equal values always hash equal.
    public static func contentHash(_ value: JSON) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: value.canonicalBytes))
    }

    /// `sha256:<hex>` of a body's stored (canonical) text: the same as `contentHash` of its value.
    static func bodyHash(_ text: String) -> String {
        var text = text
        return text.withUTF8 { "sha256:" + Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }

    /// Stores a body under its hash, unless it is already there (equal hashes are equal texts).
    static func storeBody(hash: String, text: String, _ tx: any SQLTx) throws {
        try tx.execute("INSERT INTO bodies (hash, text) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", [hash, text])
    }

    /// Stores a rendered body and returns its hash.
    static func storeBody(_ body: StoredBody, _ tx: any SQLTx) throws -> String {
        try storeBody(hash: body.hash, text: body.text, tx)
        return body.hash
    }

    /// Forgets the bodies nothing refers to any more (an object updated or removed outside a run, whose old body no
    /// journal entry names). Run once when a run finishes, not per object: one pass over the references.
    static func pruneBodies(_ tx: any SQLTx) throws {
        try tx.execute("""
            DELETE FROM bodies WHERE hash NOT IN (SELECT applied_hash FROM objects)
                AND hash NOT IN (SELECT before_hash FROM journal WHERE before_hash IS NOT NULL)
                AND hash NOT IN (SELECT after_hash FROM journal WHERE after_hash IS NOT NULL)
            """, [])
    }
}

/// A body as the state stores it: its canonical text and that text's hash (`StateStore.contentHash` of the value), made
/// once by whoever has the value and handed to the store (`ManagedObject.init(...stored:...)`, `StateStore.journal`'s
/// `afterBody`), so a step that records, sends and journals one body renders (and masks) it once. Secrets are masked
/// first.
public struct StoredBody: Sendable {
    /// The value as stored: a Secret's values masked (`StateStore.maskSecrets`), anything else as given.
    public let value: JSON
    public let text: String
    public let hash: String
    /// `value` as stored: secrets masked by `store`, rendered canonically, hashed.
    public init(_ value: JSON, maskedBy store: StateStore) {
        self.value = store.maskSecrets(value)
        text = self.value.canonicalText
        hash = StateStore.bodyHash(text)
    }
}
