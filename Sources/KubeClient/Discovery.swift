import Foundation
import KubeModel

/// A kind as the server serves it: which URL segment (`resource`), whether it lives in a namespace, and which
/// verbs it allows. Built-ins and custom resources look the same.
public struct APIResource: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String
    /// The plural resource name used in URLs, e.g. `deployments`.
    public var name: String
    public var namespaced: Bool
    public var verbs: [String]
    public var shortNames: [String]

    public init(group: String, version: String, kind: String, name: String, namespaced: Bool, verbs: [String], shortNames: [String] = []) {
        self.group = group; self.version = version; self.kind = kind; self.name = name
        self.namespaced = namespaced; self.verbs = verbs; self.shortNames = shortNames
    }

    public var gvk: GroupVersionKind { GroupVersionKind(group: group, version: version, kind: kind) }

    /// `/api/v1` or `/apis/<group>/<version>`.
    public var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The URL path of the collection (namespace nil for all namespaces or cluster-scoped kinds), or of one object.
    public func path(namespace: String?, name objectName: String? = nil) -> String {
        var p = groupVersionPath
        if namespaced, let namespace { p += "/namespaces/\(Self.segment(namespace))" }
        p += "/\(name)"
        if let objectName { p += "/\(Self.segment(objectName))" }
        return p
    }

    static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: pathCharacters) ?? s
    }

    /// What a path segment keeps unescaped (RFC 3986 pchar, less sub-delims), built once: per request it was 1% of
    /// apply's CPU (#17).
    private static let pathCharacters: CharacterSet = {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:@")
        return allowed
    }()

    public var description: String { "\(gvk) (\(name), \(namespaced ? "namespaced" : "cluster-scoped"))" }
}

/// Discovery with a cache per group-version: the first lookup of a group-version reads
/// `/api/v1` or `/apis/<group>/<version>` once; a kind missing from the cached answer triggers one re-read
/// (a CRD may have just been established), so custom resources work like built-ins.
actor DiscoveryCache {
    private var byGroupVersion: [GroupVersion: [String: APIResource]] = [:]
    private(set) var fetches = 0

    /// The cached resource, if this group-version has been read and lists the kind.
    func cached(_ gvk: GroupVersionKind) -> APIResource? {
        byGroupVersion[GroupVersion(group: gvk.group, version: gvk.version)]?[gvk.kind]
    }

    func isLoaded(_ gv: GroupVersion) -> Bool { byGroupVersion[gv] != nil }

    func store(_ gv: GroupVersion, _ resources: [APIResource]) {
        fetches += 1
        byGroupVersion[gv] = Dictionary(resources.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func all() -> [APIResource] { byGroupVersion.values.flatMap(\.values).sorted { $0.description < $1.description } }

    func forget() { byGroupVersion = [:] }

    /// Parses an `APIResourceList`, skipping subresources (`deployments/status`).
    static func parse(_ list: JSON, groupVersion gv: GroupVersion) -> [APIResource] {
        (list["resources"]?.array ?? []).compactMap { r in
            guard let name = r["name"]?.string, !name.contains("/"), let kind = r["kind"]?.string else { return nil }
            return APIResource(group: r["group"]?.string ?? gv.group, version: r["version"]?.string ?? gv.version,
                               kind: kind, name: name, namespaced: r["namespaced"]?.bool ?? false,
                               verbs: (r["verbs"]?.array ?? []).compactMap(\.string),
                               shortNames: (r["shortNames"]?.array ?? []).compactMap(\.string))
        }
    }
}
