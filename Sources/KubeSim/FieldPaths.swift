import Foundation
import KubeModel

/// Field paths in the managedFields encoding (`f:spec`, `k:{"name":"x"}`, `v:"a"`, `.`), flattened to
/// strings so that field sets are plain `Set<String>` (fast to union, subtract and compare).
///
/// Lists are what the kind's schema says (`SchemaNode`): associative by their list-map keys
/// (`k:{"containerPort":80,"protocol":"TCP"}`), sets, or atomic (owned and replaced whole, also every list
/// the schema says nothing about), as structured-merge-diff treats them. `mergeKey` is the strategic merge
/// patch's single key, which kubectl takes from its compiled-in types (patchMergeKey).
enum FieldPaths {
    static let separator: Character = "\u{1}"

    /// The merge key of a known associative list, given its field name and elements.
    static func mergeKey(field: String?, elements: [JSON]) -> String? {
        guard let field else { return nil }
        let key: String
        switch field {
        case "containers", "initContainers", "ephemeralContainers", "env", "volumes", "imagePullSecrets",
             "webhooks", "versions", "secrets", "resourceClaims", "readinessGates":
            key = field == "readinessGates" ? "conditionType" : "name"
        case "volumeMounts": key = "mountPath"
        case "volumeDevices": key = "devicePath"
        case "ports": key = elements.first?["containerPort"] != nil ? "containerPort" : "port"
        case "conditions": key = "type"
        case "hostAliases": key = "ip"
        case "topologySpreadConstraints": key = "topologyKey"
        case "ownerReferences": key = "uid"
        default: return nil
        }
        guard !elements.isEmpty, elements.allSatisfy({ $0[key] != nil }) else { return nil }
        return key
    }

    static func isSetList(_ field: String?) -> Bool { field == "finalizers" }

    /// An item's `k:{...}` path component: its list-map key fields, a missing one at its default.
    static func keyComponent(_ keys: [String], _ element: JSON) -> String {
        "k:" + canonicalText(.object(Dictionary(uniqueKeysWithValues: keys.map { ($0, element[$0] ?? SchemaNode.keyDefaults[$0] ?? .null) })))
    }

    /// The list-map keys of an associative list whose items all carry them (or their defaults), else nil.
    static func mapKeys(_ node: SchemaNode?, _ elements: [JSON]) -> [String]? {
        guard let node, node.listType == "map", !node.mapKeys.isEmpty else { return nil }
        let keys = node.mapKeys
        guard elements.allSatisfy({ e in e.object != nil && keys.allSatisfy { e[$0] != nil || SchemaNode.keyDefaults[$0] != nil } }) else { return nil }
        return keys
    }

    static func sameItem(_ a: JSON, _ b: JSON, keys: [String]) -> Bool {
        keys.allSatisfy { (a[$0] ?? SchemaNode.keyDefaults[$0]) == (b[$0] ?? SchemaNode.keyDefaults[$0]) }
    }

    /// Leaf paths with their values (associative items also get an item path ending in `.`), for the parts of
    /// an object that field management tracks: not apiVersion/kind, not server-set metadata, not status when
    /// it is a subresource.
    static func flatten(object: JSON, includeStatus: Bool, schema: SchemaNode? = nil) -> [String: JSON] {
        var out: [String: JSON] = [:]
        guard case .object(let o) = object else { return out }
        let root = schema ?? SchemaNode(["properties": ["metadata": ["$ref": .string(OpenAPISchemas.objectMeta)]]])
        for (k, v) in o {
            switch k {
            case "apiVersion", "kind": continue
            case "status" where !includeStatus: continue
            case "metadata":
                let meta = root.child("metadata")
                for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let mv = v[mk] { walk(mv, meta?.child(mk), prefix: "f:metadata\u{1}f:\(mk)", into: &out) }
                }
            default: walk(v, root.child(k), prefix: "f:" + k, into: &out)
            }
        }
        return out
    }

    private static func walk(_ v: JSON, _ node: SchemaNode?, prefix: String, into out: inout [String: JSON]) {
        switch v {
        case .object(let o) where !o.isEmpty:
            for (k, cv) in o { walk(cv, node?.child(k), prefix: prefix + "\u{1}f:" + k, into: &out) }
        case .array(let a) where a.isEmpty && (node?.listType == "map" || node?.listType == "set"):
            break   // an empty associative list owns nothing (structured-merge-diff typed/tofieldset.go doList)
        case .array(let a) where !a.isEmpty:
            if let keys = mapKeys(node, a) {
                for e in a {
                    let p = prefix + "\u{1}" + keyComponent(keys, e)
                    out[p + "\u{1}."] = .null
                    if case .object(let eo) = e {
                        for (k, cv) in eo { walk(cv, node?.items?.child(k), prefix: p + "\u{1}f:" + k, into: &out) }
                    }
                }
            } else if node?.listType == "set" {
                for e in a { out[prefix + "\u{1}v:" + canonicalText(e)] = e }
            } else {
                out[prefix] = v
            }
        default:
            out[prefix] = v
        }
    }

    /// Removes the value at a flattened path; an item path (ending in `.`) removes the whole list item.
    static func removing(_ path: String, from v: JSON) -> JSON {
        removing(path.split(separator: separator).map(String.init)[...], from: v)
    }

    private static func removing(_ comps: ArraySlice<String>, from v: JSON) -> JSON {
        guard let c = comps.first else { return v }
        let rest = comps.dropFirst()
        if c.hasPrefix("f:") {
            guard case .object(var o) = v else { return v }
            let name = String(c.dropFirst(2))
            if rest.isEmpty { o[name] = nil } else if let child = o[name] { o[name] = removing(rest, from: child) }
            return .object(o)
        }
        guard case .array(var a) = v, let want = try? JSON(data: Data(c.dropFirst(2).utf8)) else { return v }
        let matches: (JSON) -> Bool
        if c.hasPrefix("k:"), case .object(let keys) = want {
            matches = { e in keys.allSatisfy { e[$0.key] == $0.value } }
        } else { matches = { $0 == want } }
        guard let i = a.firstIndex(where: matches) else { return v }
        if rest.isEmpty || rest.first == "." { a.remove(at: i) } else { a[i] = removing(rest, from: a[i]) }
        return .array(a)
    }

    /// After `path` was removed: removes the named fields above it (struct members in the schema, not map keys or
    /// list items) that are now empty and that nobody in `kept` owns anything in, nearest first, as
    /// structured-merge-diff's prune does (its removal set is the last applied set with EnsureNamedFieldsAreMembers).
    static func removingEmptyNamedParents(of path: String, from v: JSON, schema: SchemaNode?, kept: Set<String>) -> JSON {
        let comps = path.split(separator: separator).map(String.init)
        var nodes: [SchemaNode?] = [schema ?? SchemaNode(["properties": ["metadata": ["$ref": .string(OpenAPISchemas.objectMeta)]]])]
        for c in comps { nodes.append(c.hasPrefix("f:") ? nodes.last!?.child(String(c.dropFirst(2))) : nodes.last!?.items) }
        var v = v
        for i in stride(from: comps.count - 1, through: 1, by: -1) {
            let c = comps[i - 1]
            // List items and map keys are not named fields: look further up.
            guard c.hasPrefix("f:"), nodes[i - 1]?.schema["properties"]?[String(c.dropFirst(2))] != nil else { continue }
            let prefix = comps[..<i].joined(separator: String(separator))
            if kept.contains(where: { $0 == prefix || $0.hasPrefix(prefix + String(separator)) }) { break }
            guard let here = value(at: comps[..<i], in: v) else { continue }
            guard here == [:] || here == [] || here == .null else { break }
            v = removing(prefix, from: v)
        }
        return v
    }

    /// The value at a flattened path, if there is one.
    static func value(at comps: ArraySlice<String>, in v: JSON) -> JSON? {
        var v = v
        for c in comps {
            if c.hasPrefix("f:") { guard let next = v[String(c.dropFirst(2))] else { return nil }; v = next; continue }
            guard case .array(let a) = v, let want = try? JSON(data: Data(c.dropFirst(2).utf8)) else { return nil }
            let found: JSON?
            if c.hasPrefix("k:"), case .object(let keys) = want { found = a.first { e in keys.allSatisfy { e[$0.key] == $0.value } } }
            else { found = a.first { $0 == want } }
            guard let found else { return nil }
            v = found
        }
        return v
    }

    /// The managedFields `fieldsV1` tree for a set of flattened paths.
    static func fieldsV1(_ paths: Set<String>) -> JSON {
        final class Node { var children: [String: Node] = [:] }
        let root = Node()
        for p in paths {
            var n = root
            for c in p.split(separator: separator) {
                let k = String(c)
                if let next = n.children[k] { n = next } else { let next = Node(); n.children[k] = next; n = next }
            }
        }
        func render(_ n: Node) -> JSON { .object(n.children.mapValues(render)) }
        return render(root)
    }

    /// A path as conflict messages print it, structured-merge-diff's fieldpath.Path String(): `.spec.replicas`,
    /// `.spec.ports[containerPort=80,protocol="TCP"]` (key fields by name, values as JSON), `.metadata.finalizers[="a"]`.
    static func display(_ path: String) -> String {
        var s = ""
        for c in path.split(separator: separator) {
            if c.hasPrefix("f:") { s += "." + c.dropFirst(2) }
            else if c.hasPrefix("k:"), case .object(let keys)? = try? JSON(data: Data(c.dropFirst(2).utf8)) {
                s += "[" + keys.keys.sorted().map { "\($0)=\(keys[$0]!.canonicalText)" }.joined(separator: ",") + "]"
            } else if c.hasPrefix("v:") { s += "[=" + c.dropFirst(2) + "]" }
        }
        return s
    }
}

/// Merges an applied configuration into a live object as server-side apply does: objects by key,
/// associative lists by their list-map keys, set lists by value, everything else replaced.
func applyMerge(_ live: JSON?, _ applied: JSON, schema: SchemaNode?) -> JSON {
    switch applied {
    case .object(let a):
        guard case .object(var l)? = live else { return applied }
        for (k, av) in a { l[k] = applyMerge(l[k], av, schema: schema?.child(k)) }
        return .object(l)
    case .array(let aa):
        guard case .array(var la)? = live else { return applied }
        if let keys = FieldPaths.mapKeys(schema, aa), FieldPaths.mapKeys(schema, la) != nil {
            for item in aa {
                if let i = la.firstIndex(where: { FieldPaths.sameItem($0, item, keys: keys) }) { la[i] = applyMerge(la[i], item, schema: schema?.items) }
                else { la.append(item) }
            }
            return .array(la)
        }
        if schema?.listType == "set" {
            for item in aa where !la.contains(item) { la.append(item) }
            return .array(la)
        }
        return applied
    default:
        return applied
    }
}
