import Foundation
import KubeModel
import Synchronization

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

/// Where a group's discovery is read: `/api` (the core group) or `/apis` (every other group).
enum DiscoveryRoot: String, Sendable, Hashable {
    case core = "/api", groups = "/apis"
    init(group: String) { self = group.isEmpty ? .core : .groups }
    var path: String { rawValue }
}

/// What the discovery cache knows, by group-version. It is filled two ways: from aggregated discovery (one answer at
/// `/api` and one at `/apis` list every resource of every group-version, Kubernetes 1.26+), or, from a server that
/// answers those in the legacy form, one `APIResourceList` per group-version (`/api/v1`, `/apis/<group>/<version>`).
actor DiscoveryCache {
    /// Behind a lock rather than the actor, so the lookup every request makes (`cached`) costs no hop onto the actor
    /// and back (five such hops per request were a good part of apply's per-request CPU, #17).
    private let byGroupVersion = Mutex<[GroupVersion: [String: APIResource]]>([:])
    /// Each group's preferred version, from aggregated answers (the first version listed that is not stale).
    private var preferredVersions: [String: String] = [:]
    /// Group-versions an aggregated answer marked `Stale` (an aggregated API server that could not be reached).
    private var stale: Set<GroupVersion> = []
    /// True once the server answered `/api` or `/apis` in the aggregated form, false once it answered in the legacy
    /// form (an older server), nil until then.
    private(set) var aggregated: Bool?

    /// The cached resource, if this group-version has been read and lists the kind.
    nonisolated func cached(_ gvk: GroupVersionKind) -> APIResource? {
        byGroupVersion.withLock { $0[GroupVersion(group: gvk.group, version: gvk.version)]?[gvk.kind] }
    }

    func isStale(_ gv: GroupVersion) -> Bool { stale.contains(gv) }
    /// Each group at its preferred version, as aggregated answers listed them.
    func preferredGroupVersions() -> [GroupVersion] { preferredVersions.map { GroupVersion(group: $0.key, version: $0.value) } }
    func answered(aggregated: Bool) { self.aggregated = aggregated }

    func store(_ gv: GroupVersion, _ resources: [APIResource]) {
        let kinds = Dictionary(resources.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
        byGroupVersion.withLock { $0[gv] = kinds }
    }

    /// Replaces what is known of `root`'s groups with an aggregated answer: a group-version or kind no longer listed
    /// (a CRD removed) is forgotten.
    func store(_ root: DiscoveryRoot, _ answer: AggregatedDiscovery) {
        let mine = { (group: String) in DiscoveryRoot(group: group) == root }
        byGroupVersion.withLock { $0 = $0.filter { !mine($0.key.group) } }
        preferredVersions = preferredVersions.filter { !mine($0.key) }
        stale = stale.filter { !mine($0.group) }
        for (gv, resources) in answer.resources { store(gv, resources) }
        for (group, version) in answer.preferredVersions { preferredVersions[group] = version }
        stale.formUnion(answer.stale)
    }

    func all() -> [APIResource] { byGroupVersion.withLock { $0.values.flatMap(\.values) }.sorted { $0.description < $1.description } }

    func forget() { byGroupVersion.withLock { $0 = [:] }; preferredVersions = [:]; stale = [] }

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

/// Aggregated discovery (`apidiscovery.k8s.io/v2`, GA in Kubernetes 1.30; `v2beta1` from 1.26): `GET /api` and
/// `GET /apis` answer with an `APIGroupDiscoveryList` (every group, version and resource) when the Accept header asks
/// for it, and say so in the Content-Type; an older server ignores the parameters and answers with the legacy
/// `APIVersions` / `APIGroupList`. As client-go does: kubernetes/kubernetes
/// staging/src/k8s.io/client-go/discovery/discovery_client.go (`AcceptV2`, `ContentTypeIsGVK`) and
/// aggregated_discovery.go (`SplitGroupsAndResources`); types in staging/src/k8s.io/api/apidiscovery/v2/types.go.
struct AggregatedDiscovery: Sendable {
    var resources: [GroupVersion: [APIResource]] = [:]
    var preferredVersions: [String: String] = [:]
    var stale: Set<GroupVersion> = []

    /// v2, then v2beta1, then the legacy form, in client-go's order of preference (`acceptDiscoveryFormats`).
    static let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        + "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

    /// Whether a Content-Type says the answer is aggregated: `application/json` with `g=apidiscovery.k8s.io`,
    /// `v=v2` or `v2beta1` and `as=APIGroupDiscoveryList`, in any order and among other parameters.
    static func isAggregated(contentType: String?) -> Bool {
        contentType.map { MediaType($0).aggregatedDiscoveryVersion != nil } ?? false
    }

    /// Parses an `APIGroupDiscoveryList`. A resource's URL is in the group-version it is listed under; its kind is
    /// `responseKind.kind` (a resource without one is skipped, as client-go's `convertAPIResource` does; built-in
    /// resources leave the kind's group and version empty). Subresources are not kinds and are left out. A
    /// group-version marked `Stale` is not served as listed: it is noted, not cached.
    init(_ list: JSON) {
        for item in list["items"]?.array ?? [] {
            let group = item[path: ["metadata", "name"]]?.string ?? ""
            for v in item["versions"]?.array ?? [] {
                guard let version = v["version"]?.string else { continue }
                let gv = GroupVersion(group: group, version: version)
                if v["freshness"]?.string == "Stale" { stale.insert(gv); continue }
                if preferredVersions[group] == nil { preferredVersions[group] = version }
                resources[gv] = (v["resources"]?.array ?? []).compactMap { r in
                    guard let name = r["resource"]?.string, let kind = r[path: ["responseKind", "kind"]]?.string, !kind.isEmpty
                    else { return nil }
                    return APIResource(group: group, version: version, kind: kind, name: name,
                                       namespaced: r["scope"]?.string == "Namespaced",
                                       verbs: (r["verbs"]?.array ?? []).compactMap(\.string),
                                       shortNames: (r["shortNames"]?.array ?? []).compactMap(\.string))
                }
            }
        }
    }
}
