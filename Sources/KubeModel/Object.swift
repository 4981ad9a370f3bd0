/// Conveniences for reading a JSON value as a Kubernetes object (apiVersion, kind, metadata).
extension JSON {
    public var apiVersion: String? { self["apiVersion"]?.string }
    public var kind: String? { self["kind"]?.string }
    public var name: String? { self[path: ["metadata", "name"]]?.string }
    public var namespace: String? { self[path: ["metadata", "namespace"]]?.string }
    public var labels: [String: String] {
        (self[path: ["metadata", "labels"]]?.object ?? [:]).compactMapValues { $0.string }
    }
    public var annotations: [String: String] {
        (self[path: ["metadata", "annotations"]]?.object ?? [:]).compactMapValues { $0.string }
    }
    public var uid: String? { self[path: ["metadata", "uid"]]?.string }
    public var resourceVersion: String? { self[path: ["metadata", "resourceVersion"]]?.string }

    /// `apiVersion` split into group and version: `"v1"` -> `("", "v1")`, `"apps/v1"` -> `("apps", "v1")`.
    public var groupVersion: GroupVersion? { apiVersion.map(GroupVersion.init(parsing:)) }
}

/// An API group and version, as in `apiVersion`. The core group is the empty string.
public struct GroupVersion: Hashable, Sendable, Codable, CustomStringConvertible {
    public var group: String
    public var version: String
    public init(group: String, version: String) { self.group = group; self.version = version }
    public init(parsing apiVersion: String) {
        if let slash = apiVersion.firstIndex(of: "/") {
            group = String(apiVersion[..<slash]); version = String(apiVersion[apiVersion.index(after: slash)...])
        } else { group = ""; version = apiVersion }
    }
    /// The `apiVersion` spelling.
    public var description: String { group.isEmpty ? version : "\(group)/\(version)" }
}

/// A kind in a group and version, e.g. `networking.istio.io/v1 Gateway`.
public struct GroupVersionKind: Hashable, Sendable, Codable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String
    public init(group: String, version: String, kind: String) { self.group = group; self.version = version; self.kind = kind }
    public init(apiVersion: String, kind: String) {
        let gv = GroupVersion(parsing: apiVersion)
        self.init(group: gv.group, version: gv.version, kind: kind)
    }
    public var apiVersion: String { GroupVersion(group: group, version: version).description }
    public var description: String { "\(apiVersion) \(kind)" }
}
