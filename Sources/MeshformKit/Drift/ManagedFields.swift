import KubeModel

/// Reads `metadata.managedFields` to say which field manager owns a field: the answer to "who changed it?".
enum ManagedFields {
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
