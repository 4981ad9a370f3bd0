import Foundation
import KubeModel

/// Strategic merge patch, enough for what kubectl sends (apply's three-way patch, label, annotate, edit,
/// patch): objects merge, `null` deletes, known lists merge by key (`$patch: delete` removes an item,
/// `$setElementOrder/x` orders, `$deleteFromPrimitiveList/x` removes values, `$retainKeys` prunes), other
/// lists are replaced. Kinds without strategy information (CRDs) get a JSON merge patch instead.
func strategicMerge(_ original: JSON, _ patch: JSON, field: String? = nil) -> JSON {
    guard case .object(let p) = patch else { return patch }
    if p["$patch"]?.string == "replace" {
        var q = p; q["$patch"] = nil; return .object(q)
    }
    var result = original.object ?? [:]
    var orders: [String: [JSON]] = [:]
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" { continue }
        if k.hasPrefix("$setElementOrder/") { orders[String(k.dropFirst(17))] = v.array ?? []; continue }
        if k.hasPrefix("$deleteFromPrimitiveList/") {
            let name = String(k.dropFirst(25))
            let drop = v.array ?? []
            if case .array(let a)? = result[name] { result[name] = .array(a.filter { !drop.contains($0) }) }
            continue
        }
        if v.isNull { result[k] = nil; continue }
        switch v {
        case .object:
            result[k] = strategicMerge(result[k] ?? .object([:]), v, field: k)
        case .array(let items):
            result[k] = mergeList(result[k]?.array ?? [], items, field: k)
        default:
            result[k] = v
        }
    }
    for (name, order) in orders { if case .array(let a)? = result[name] { result[name] = .array(reorder(a, by: order, field: name)) } }
    if let retain = p["$retainKeys"]?.array?.compactMap(\.string) {
        for k in Array(result.keys) where !retain.contains(k) && p[k] == nil { result[k] = nil }
    }
    return .object(result)
}

private func mergeList(_ live: [JSON], _ items: [JSON], field: String) -> JSON {
    if items.contains(where: { $0["$patch"]?.string == "replace" }) {
        return .array(items.filter { $0["$patch"]?.string != "replace" })
    }
    let objects = items.filter { $0.object != nil }
    let keyCandidates = objects.filter { $0["$patch"] == nil }
    guard let key = FieldPaths.mergeKey(field: field, elements: keyCandidates.isEmpty ? objects.map { var o = $0; o["$patch"] = nil; return o } : keyCandidates)
            ?? (objects.isEmpty ? nil : FieldPaths.mergeKey(field: field, elements: live)) else {
        if FieldPaths.isSetList(field) {
            var out = live
            for i in items where !out.contains(i) { out.append(i) }
            return .array(out)
        }
        return .array(items)
    }
    var out = live
    for item in items {
        guard let kv = item[key] else { continue }
        let i = out.firstIndex { $0[key] == kv }
        if item["$patch"]?.string == "delete" { if let i { out.remove(at: i) }; continue }
        if let i { out[i] = strategicMerge(out[i], item) } else { out.append(strategicMerge(.object([:]), item)) }
    }
    return .array(out)
}

private func reorder(_ a: [JSON], by order: [JSON], field: String) -> [JSON] {
    guard let key = FieldPaths.mergeKey(field: field, elements: a) else {
        let inOrder = order.filter { a.contains($0) }
        return inOrder + a.filter { !inOrder.contains($0) }
    }
    var sorted: [JSON] = []
    for o in order { if let e = a.first(where: { $0[key] == o[key] }) { sorted.append(e) } }
    return sorted + a.filter { e in !sorted.contains { $0[key] == e[key] } }
}

/// RFC 6902 JSON patch (`kubectl patch --type=json`): add, remove, replace, test, move, copy.
func applyJSONPatch(_ doc: JSON, _ patch: JSON) throws -> JSON {
    guard let ops = patch.array else { throw APIError.badRequest("json patch must be an array") }
    var d = doc
    for op in ops {
        guard let kind = op["op"]?.string, let path = op["path"]?.string else { throw APIError.badRequest("invalid json patch operation") }
        let ptr = pointer(path)
        switch kind {
        case "add": d = try set(d, ptr[...], op["value"] ?? .null, insert: true)
        case "replace": _ = try get(d, ptr); d = try set(d, ptr[...], op["value"] ?? .null, insert: false)
        case "remove": _ = try get(d, ptr); d = try remove(d, ptr[...])
        case "test": if try get(d, ptr) != (op["value"] ?? .null) { throw APIError(code: 422, reason: "Invalid", message: "test operation failed at \(path)") }
        case "move", "copy":
            let from = pointer(op["from"]?.string ?? "")
            let v = try get(d, from)
            if kind == "move" { d = try remove(d, from[...]) }
            d = try set(d, ptr[...], v, insert: true)
        default: throw APIError.badRequest("unknown json patch op \(kind)")
        }
    }
    return d
}

private func pointer(_ p: String) -> [String] {
    p.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        .map { $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") }
}

private func get(_ d: JSON, _ ptr: [String]) throws -> JSON {
    var cur = d
    for c in ptr {
        if case .array(let a) = cur, let i = Int(c), a.indices.contains(i) { cur = a[i] }
        else if let next = cur[c] { cur = next }
        else { throw APIError(code: 422, reason: "Invalid", message: "json patch: path not found: /\(ptr.joined(separator: "/"))") }
    }
    return cur
}

private func set(_ d: JSON, _ ptr: ArraySlice<String>, _ v: JSON, insert: Bool) throws -> JSON {
    guard let c = ptr.first else { return v }
    let rest = ptr.dropFirst()
    if case .array(var a) = d {
        if rest.isEmpty, insert, c == "-" { a.append(v); return .array(a) }
        guard let i = Int(c), i >= 0, i <= a.count else { throw APIError(code: 422, reason: "Invalid", message: "json patch: bad index \(c)") }
        if rest.isEmpty { if insert { a.insert(v, at: i) } else if i < a.count { a[i] = v } ; return .array(a) }
        guard i < a.count else { throw APIError(code: 422, reason: "Invalid", message: "json patch: bad index \(c)") }
        a[i] = try set(a[i], rest, v, insert: insert); return .array(a)
    }
    guard case .object(var o) = d else { throw APIError(code: 422, reason: "Invalid", message: "json patch: not a container at \(c)") }
    if rest.isEmpty { o[c] = v } else {
        guard let child = o[c] else { throw APIError(code: 422, reason: "Invalid", message: "json patch: path not found at \(c)") }
        o[c] = try set(child, rest, v, insert: insert)
    }
    return .object(o)
}

private func remove(_ d: JSON, _ ptr: ArraySlice<String>) throws -> JSON {
    guard let c = ptr.first else { return .null }
    let rest = ptr.dropFirst()
    if case .array(var a) = d, let i = Int(c), a.indices.contains(i) {
        if rest.isEmpty { a.remove(at: i) } else { a[i] = try remove(a[i], rest) }
        return .array(a)
    }
    guard case .object(var o) = d else { return d }
    if rest.isEmpty { o[c] = nil } else if let child = o[c] { o[c] = try remove(child, rest) }
    return .object(o)
}
