import KubeModel

/// Reads `metadata.managedFields` to say which field manager owns a field: the answer to "who changed it?".
enum ManagedFields {
    /// The field manager Meshform applies under (always with `force`: its intent takes a field back from whoever
    /// changed it). Drift names any other manager as the one that changed a field.
    static let meshform = "meshform"

    /// The manager other than `except` that owns `path` (a `FieldChange.path`), the most recent first; nil if none.
    static func owner(of path: String, in object: JSON, except: String) -> String? {
        let keys = fieldsV1Keys(path)
        let entries = (object[path: ["metadata", "managedFields"]]?.array ?? [])
            .filter { $0["manager"]?.string != except }
            .sorted { ($0["time"]?.string ?? "") > ($1["time"]?.string ?? "") }
        for e in entries {
            guard var node = e["fieldsV1"] else { continue }
            var owns = false
            for k in keys {
                guard let next = node[k] else { break }
                node = next
                // An atomic value or list owned as a whole owns everything under it.
                owns = (next.object?.isEmpty ?? true) || next["."] != nil
            }
            if owns { return e["manager"]?.string }
        }
        return nil
    }

    /// `.spec.template.spec.containers[name=discovery].image` -> `f:spec`, `f:template`, `f:spec`, `f:containers`,
    /// `k:{"name":"discovery"}`, `f:image`. Positional elements (`[3]`) stop the walk: such lists are atomic.
    static func fieldsV1Keys(_ path: String) -> [String] {
        var keys: [String] = []
        var i = path.startIndex
        while i < path.endIndex {
            if path[i] == "." {
                let start = path.index(after: i)
                let end = path[start...].firstIndex(where: { $0 == "." || $0 == "[" }) ?? path.endIndex
                keys.append("f:" + path[start..<end]); i = end
            } else if path[i] == "[" {
                let end = path[i...].firstIndex(of: "]") ?? path.endIndex
                let inner = path[path.index(after: i)..<end]
                if inner.hasPrefix("name=") { keys.append(#"k:{"name":"\#(inner.dropFirst(5))"}"#) } else { return keys }
                i = end < path.endIndex ? path.index(after: end) : end
            } else {
                i = path.index(after: i)
            }
        }
        return keys
    }
}

extension ManagedFields {
    /// The managers whose `fieldsV1` hold exactly this field (every step of `path`, a `FieldChange.path`), from the
    /// object's `metadata.managedFields`. A positional path (`[3]`) is atomic in server-side apply: no one is named.
    static func owners(of path: String, in object: JSON) -> [String] {
        if path.split(separator: "[").dropFirst().contains(where: { $0.first?.isNumber == true }) { return [] }
        let keys = fieldsV1Keys(path)
        return (object[path: ["metadata", "managedFields"]]?.array ?? []).compactMap { e in
            var node = e["fieldsV1"]
            for k in keys { node = node?[k] }
            return node == nil ? nil : e["manager"]?.string
        }
    }

    /// The body to apply to an object that exists, for the fields Meshform sends on create and then leaves to others
    /// (`ignoreFields`: webhook `caBundle` and `failurePolicy`, which istiod manages). Server-side apply removes a field
    /// its applier stops sending when no other manager owns it, and the server then resets it to its default (a
    /// `failurePolicy: Ignore` would become `Fail`). So each such field is left out only where another manager owns
    /// it (theirs stays) or it is gone live; where Meshform alone owns it, the live value is sent back unchanged.
    static func releasing(_ patterns: [FieldPattern], in body: JSON, live: JSON, manager: String) -> JSON {
        var body = body
        for pattern in patterns {
            for path in pattern.concretePaths(in: body) {
                let othersOwn = owners(of: FieldDiff.render(path), in: live).contains { $0 != manager }
                body[fieldPath: path] = othersOwn ? nil : live[fieldPath: path]
            }
        }
        return body
    }
}

extension FieldPattern {
    /// The paths in `object` this pattern names (`[*]` expanded to each element: by name where elements have one).
    func concretePaths(in object: JSON) -> [[PathElement]] {
        var paths: [([PathElement], JSON)] = [([], object)]
        for step in steps {
            paths = paths.flatMap { path, value -> [([PathElement], JSON)] in
                switch step {
                case .key(let k): return value[k].map { [(path + [.key(k)], $0)] } ?? []
                case .anyElement:
                    return (value.array ?? []).enumerated().map { i, e in (path + [e["name"]?.string.map(PathElement.named) ?? .index(i)], e) }
                }
            }
        }
        return paths.map(\.0)
    }
}

extension JSON {
    /// The value at a diff path; `[name=X]` is the list element whose `name` is X. Setting nil removes it.
    subscript(fieldPath path: [PathElement]) -> JSON? {
        get {
            var cur: JSON? = self
            for e in path {
                switch e {
                case .key(let k): cur = cur?[k]
                case .index(let i): cur = cur?[i]
                case .named(let n): cur = cur?.array?.first { $0["name"]?.string == n }
                }
            }
            return cur
        }
        set {
            guard let first = path.first else { if let newValue { self = newValue }; return }
            let rest = Array(path.dropFirst())
            switch first {
            case .key(let k):
                if rest.isEmpty { self[k] = newValue; return }
                guard var child = self[k] else { return }
                child[fieldPath: rest] = newValue
                self[k] = child
            case .index, .named:
                guard var list = array, let i = first.index(in: list) else { return }
                if rest.isEmpty { if let newValue { list[i] = newValue } else { list.remove(at: i) } }
                else { list[i][fieldPath: rest] = newValue }
                self = .array(list)
            }
        }
    }
}

extension PathElement {
    fileprivate func index(in list: [JSON]) -> Int? {
        switch self {
        case .index(let i): return list.indices.contains(i) ? i : nil
        case .named(let n): return list.firstIndex { $0["name"]?.string == n }
        case .key: return nil
        }
    }
}
