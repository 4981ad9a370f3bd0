/// The stable name of one Kubernetes object in one cluster: `cluster/group/Kind/namespace/name`.
///
/// The core group is spelled `core` and a cluster-scoped object's namespace `_`, so every address has
/// exactly five non-empty segments and reads the same in plans, state, journals and DOT output, e.g.
/// `remote1/networking.istio.io/Gateway/external-istiod/external-istiod-gw` or
/// `external/core/Namespace/_/external-istiod`. Ordering is by the text, which makes every order built
/// on addresses deterministic.
///
/// It lives in KubeModel so that every layer, the state's journal included, names an object with this one type;
/// its text appears only at the edges (plan and drift JSON, SQL columns, the terminal).
public struct ResourceAddress: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var cluster: String
    public var group: String
    public var kind: String
    /// nil for cluster-scoped objects.
    public var namespace: String?
    public var name: String

    public init(cluster: String, group: String, kind: String, namespace: String?, name: String) {
        self.cluster = cluster
        self.group = group.isEmpty ? "core" : group
        self.kind = kind
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.name = name
    }

    /// The address of a Kubernetes object body placed in `cluster`.
    public init(cluster: String, object: JSON) throws {
        guard let kind = object.kind, let apiVersion = object.apiVersion, let name = object.name else {
            throw AddressError.incompleteObject(cluster: cluster, kind: object.kind, name: object.name)
        }
        self.init(cluster: cluster, group: GroupVersion(parsing: apiVersion).group, kind: kind,
                  namespace: object.namespace, name: name)
    }

    /// Parses the five-segment text form; throws on anything else.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, !parts.contains(where: \.isEmpty) else { throw AddressError.malformed(text) }
        self.init(cluster: parts[0], group: parts[1], kind: parts[2],
                  namespace: parts[3] == "_" ? nil : parts[3], name: parts[4])
    }

    /// The API group as Kubernetes spells it (the core group is "").
    public var apiGroup: String { group == "core" ? "" : group }

    /// The group/version/kind of this address; the version is not part of the address, so it comes from the body.
    public func gvk(version: String) -> GroupVersionKind {
        GroupVersionKind(group: apiGroup, version: version, kind: kind)
    }

    public var description: String { "\(cluster)/\(group)/\(kind)/\(namespace ?? "_")/\(name)" }

    /// The order of the texts, found segment by segment without building them: sorting and heaps compare addresses
    /// millions of times in a large fleet's graph.
    public static func < (a: ResourceAddress, b: ResourceAddress) -> Bool {
        if a.cluster != b.cluster { return segmentPrecedes(a.cluster, b.cluster) }
        if a.group != b.group { return segmentPrecedes(a.group, b.group) }
        if a.kind != b.kind { return segmentPrecedes(a.kind, b.kind) }
        let (x, y) = (a.namespace ?? "_", b.namespace ?? "_")
        if x != y { return segmentPrecedes(x, y) }
        return a.name != b.name && segmentPrecedes(a.name, b.name)
    }

    /// Whether the text of an address whose first differing segment is `x` sorts before one where it is `y`. A segment
    /// never holds `/`, so where one segment is a prefix of the other, the text compares the `/` that ends the shorter
    /// with the longer's next byte. Non-ASCII text falls back to String's own order, as the whole text would.
    static func segmentPrecedes(_ x: String, _ y: String) -> Bool {
        var xs = x.utf8.makeIterator(), ys = y.utf8.makeIterator()
        while true {
            switch (xs.next(), ys.next()) {
            case (let p?, let q?) where p == q: continue
            case (let p?, let q?): return p < 0x80 && q < 0x80 ? p < q : (x + "/") < (y + "/")
            case (nil, let q?): return q < 0x80 ? 0x2F < q : (x + "/") < (y + "/")
            case (let p?, nil): return p < 0x80 ? p < 0x2F : (x + "/") < (y + "/")
            case (nil, nil): return false
            }
        }
    }

    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Whether `pattern` (the same five segments, each a literal or `*`) matches this address.
    public func matches(pattern: String) -> Bool {
        let p = pattern.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard p.count == 5 else { return false }
        let mine = [cluster, group, kind, namespace ?? "_", name]
        return zip(p, mine).allSatisfy { $0 == "*" || $0 == $1 }
    }
}

public enum AddressError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case incompleteObject(cluster: String, kind: String?, name: String?)

    public var description: String {
        switch self {
        case .malformed(let t):
            return "'\(t)' is not a resource address; write cluster/group/Kind/namespace/name (core group 'core', cluster-scoped namespace '_')"
        case .incompleteObject(let c, let k, let n):
            return "an object for cluster \(c) lacks apiVersion, kind or metadata.name (kind \(k ?? "?"), name \(n ?? "?"))"
        }
    }
}
