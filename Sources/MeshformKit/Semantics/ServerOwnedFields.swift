import KubeModel

/// What the API server writes in every object and no client sets: its identity and bookkeeping in `metadata`
/// (ObjectMeta's "Populated by the system. Read-only." fields, and `managedFields`, the server's record of who set
/// what: https://github.com/kubernetes/apimachinery/blob/master/pkg/apis/meta/v1/types.go) and `status`.
/// A diff skips them (they are not the user's config) and a write-back strips them (the server refuses or ignores them).
enum ServerOwnedFields {
    static let topLevel: Set<String> = ["status"]
    static let metadata: Set<String> = ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                                        "deletionTimestamp"]

    /// A live object stripped of what the server owns: ready to be written back (a rollback's recreate, a namespace
    /// created again), or shown as what an object would become (a server dry run's answer).
    static func restorable(_ live: JSON) -> JSON {
        var o = live
        for k in topLevel { o[k] = nil }
        for k in metadata { o[path: ["metadata", k]] = nil }
        return o
    }
}

extension JSON {
    /// Whether the object is being deleted (`metadata.deletionTimestamp` set; finalizers may still hold it).
    var isTerminating: Bool { self[path: ["metadata", "deletionTimestamp"]] != nil }
}
