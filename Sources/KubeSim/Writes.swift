import Foundation
import KubeModel

/// Who writes, and how: shared by every write verb.
struct WriteContext {
    var type: ResourceType
    var version: String
    var namespace: String
    var manager: String
    var dryRun: Bool
    /// `?fieldValidation=`; Warn when absent, as kube-apiserver 1.27+.
    var validation: FieldValidation = .warn
    /// What the request tells the client in `Warning` headers.
    var warnings = Warnings()
    /// JSON Patches the request's mutating admission webhooks returned, applied where admission happens.
    var mutations: [JSON] = []
    var apiVersion: String { type.apiVersion(version) }

    /// The object as a client of this request's version sees it.
    func rendered(_ obj: JSON) -> JSON {
        var o = obj; o["apiVersion"] = .string(apiVersion); o["kind"] = .string(type.kind); return o
    }
}

enum PatchKind { case merge, strategic, json, apply }

/// Create, update, patch, server-side apply and delete, with the real server's metadata, conflicts and
/// field ownership. All are called with the store's lock held.
extension StoreState {
    static let serverMetadata = ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp", "selfLink"]

    /// The object as a client of `version` sees it.
    func render(_ obj: JSON, _ c: WriteContext) -> JSON { c.rendered(obj) }

    func checkBody(_ body: JSON, _ c: WriteContext, name: String?) throws -> JSON {
        guard case .object = body else { throw APIError.badRequest("the request body must be a JSON or YAML object") }
        var b = Self.withoutNulls(body)
        if let k = b.kind, k != c.type.kind {
            throw APIError.badRequest("the kind of the provided object (\(k)) does not match the resource (\(c.type.kind))")
        }
        if let av = b.apiVersion, GroupVersion(parsing: av).group != c.type.group {
            throw APIError.badRequest("the API version in the data (\(av)) does not match the expected API version (\(c.apiVersion))")
        }
        if let name, let bn = b.name, bn != name {
            throw APIError.badRequest("the name of the object (\(bn)) does not match the name on the URL (\(name))")
        }
        if let name, b.name == nil { b[path: ["metadata", "name"]] = .string(name) }
        if c.type.namespaced {
            if let ns = b.namespace, !ns.isEmpty, ns != c.namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            b[path: ["metadata", "namespace"]] = .string(c.namespace)
        } else if b.namespace != nil { b[path: ["metadata", "namespace"]] = nil }
        b["apiVersion"] = .string(c.type.apiVersion(c.type.versions[0]))
        b["kind"] = .string(c.type.kind)
        return try checkFields(b, c)
    }

    /// The body as the server decodes it: checked against the kind's schema (the real OpenAPI schema of a
    /// built-in kind, a CRD's openAPIV3Schema), unknown fields dropped (and reported as `fieldValidation`
    /// asks), wrong types refused, quantities canonical, empty optional maps and lists gone.
    func checkFields(_ body: JSON, _ c: WriteContext) throws -> JSON {
        guard let (schema, structural) = schemaRoot(c.type, version: c.version) else { return body }
        var walk = SchemaWalk(structural: structural)
        let out = walk.walk(body, schema, path: "")
        let handled = "\(c.type.kind) in version \"\(c.version)\" cannot be handled as a \(c.type.kind): "
        if let e = walk.typeErrors.first {
            if structural {
                throw APIError.invalid(c.type, body.name ?? "", walk.typeErrors.map { ($0.path, $0.message) })
            }
            throw APIError.badRequest(handled + (e.message.hasPrefix("cannot unmarshal") ? "json: " : "") + e.message)
        }
        if !walk.unknown.isEmpty {
            let fields = walk.unknown.map { "unknown field \"\($0)\"" }
            switch c.validation {
            case .strict: throw APIError.badRequest(handled + "strict decoding error: " + fields.joined(separator: ", "))
            case .warn: c.warnings.add(fields)
            case .ignore: break
            }
        }
        return out
    }

    /// The object without null-valued fields: the real server decodes into typed structs, where null is absent.
    static func withoutNulls(_ v: JSON) -> JSON {
        switch v {
        case .object(let o): return .object(o.compactMapValues { $0.isNull ? nil : withoutNulls($0) })
        case .array(let a): return .array(a.map(withoutNulls))
        default: return v
        }
    }

    /// The NamespaceLifecycle admission plugin (k8s.io/apiserver pkg/admission/plugin/namespace/lifecycle):
    /// no object in a missing namespace, no new object in a terminating one.
    func requireNamespace(_ c: WriteContext, name: String) throws {
        guard c.type.namespaced else { return }
        guard let ns = namespaceExists(c.namespace) else { throw APIError.namespaceNotFound(c.namespace) }
        if ns[path: ["metadata", "deletionTimestamp"]] != nil {
            let who = name.isEmpty ? c.type.qualifiedName : "\(c.type.qualifiedName) \"\(name)\""
            throw APIError(code: 403, reason: "Forbidden", message: "\(who) is forbidden: unable to create new content in namespace \(c.namespace) because it is being terminated",
                           details: ["name": .string(name), "group": .string(c.type.group), "kind": .string(c.type.resource),
                                     "causes": [["type": "NamespaceTerminating", "message": .string("namespace \(c.namespace) is being terminated"), "field": "metadata.namespace"]]])
        }
    }

    /// `admit`, then the patches of the request's mutating admission webhooks, then the checks again: kube-apiserver
    /// decodes, defaults and validates what its mutating webhooks made.
    func admit(_ c: WriteContext, _ obj: inout JSON, old: JSON?) throws {
        try admit(c.type, &obj, old: old)
        guard !c.mutations.isEmpty else { return }
        for patch in c.mutations {
            do { obj = try applyJSONPatch(obj, patch) }
            catch { throw APIError(code: 500, reason: "InternalError", message: "Internal error occurred: JSON Patch: \(error)") }
        }
        obj = try checkFields(obj, c)
        try admit(c.type, &obj, old: old)
    }

    // MARK: create

    func create(_ body: JSON, _ c: WriteContext) throws -> JSON {
        var obj = try checkBody(body, c, name: nil)
        if (obj.name ?? "").isEmpty, let gen = obj[path: ["metadata", "generateName"]]?.string {
            let suffix = String((0..<5).map { _ in "bcdfghjklmnpqrstvwxz2456789".randomElement()! })
            obj[path: ["metadata", "name"]] = .string(gen + suffix)
        }
        let name = obj.name ?? ""
        try validateName(c.type, name)
        try requireNamespace(c, name: name)
        if stored(c.type, c.namespace, name) != nil { throw APIError.alreadyExists(c.type, name) }
        for k in Self.serverMetadata { obj[path: ["metadata", k]] = nil }
        if c.type.hasStatus, c.type.storageKey != "namespaces" { obj["status"] = nil }
        try admit(c, &obj, old: nil)
        let managers = trackUpdate(old: nil, new: obj, managers: [], c)
        return try finish(c, name: name, old: nil, new: obj, managers: managers)
    }

    // MARK: update (PUT)

    func update(_ name: String, _ body: JSON, _ c: WriteContext, subresource: String?) throws -> JSON {
        guard let old = stored(c.type, c.namespace, name) else { throw APIError.notFound(c.type, name) }
        var obj = try checkBody(body, c, name: name)
        if let rv = obj.resourceVersion, !rv.isEmpty, rv != old.object.resourceVersion { throw APIError.staleConflict(c.type, name) }
        let sent = obj[path: ["metadata", "managedFields"]]
        obj = merged(old: old.object, new: obj, c, subresource: subresource)
        try admit(c, &obj, old: old.object)
        var managers = trackUpdate(old: old.object, new: obj, managers: old.managers, c)
        if let sent, sent != old.object[path: ["metadata", "managedFields"]], let given = Self.parseManagedFields(sent) { managers = given }
        return try finish(c, name: name, old: old, new: obj, managers: managers)
    }

    /// Managers as a client sent them in `metadata.managedFields` (kubectl rewrites them when it moves an
    /// object from client-side to server-side apply); nil if they are not well-formed.
    static func parseManagedFields(_ v: JSON) -> [ManagerEntry]? {
        guard let entries = v.array, !entries.isEmpty else { return nil }
        var out: [ManagerEntry] = []
        for e in entries {
            guard let m = e["manager"]?.string, let op = e["operation"]?.string, let fields = e["fieldsV1"] else { return nil }
            var paths = Set<String>()
            func walk(_ node: JSON, _ prefix: String) {
                guard case .object(let o) = node else { return }
                if o.isEmpty { if !prefix.isEmpty { paths.insert(prefix) }; return }
                for (k, child) in o {
                    if k == "." { paths.insert(prefix + "\u{1}.") } else { walk(child, prefix.isEmpty ? k : prefix + "\u{1}" + k) }
                }
            }
            walk(fields, "")
            out.append(ManagerEntry(manager: m, operation: op, apiVersion: e["apiVersion"]?.string ?? "", time: e["time"]?.string ?? timestamp(), paths: paths))
        }
        return out
    }

    /// The new object with the server's metadata kept from the old one, and status or spec kept depending on
    /// whether the main resource or the status subresource is written.
    func merged(old: JSON, new: JSON, _ c: WriteContext, subresource: String?) -> JSON {
        if subresource == "status" {
            var o = old; o["status"] = new["status"]; return o
        }
        var obj = new
        for k in Self.serverMetadata { obj[path: ["metadata", k]] = old[path: ["metadata", k]] }
        if c.type.hasStatus { obj["status"] = old["status"] }
        return obj
    }

    // MARK: patch

    func patch(_ name: String, _ patch: JSON, kind: PatchKind, force: Bool, _ c: WriteContext, subresource: String?) throws -> JSON {
        if kind == .apply { return try apply(name, patch, force: force, c) }
        guard let old = stored(c.type, c.namespace, name) else { throw APIError.notFound(c.type, name) }
        var obj: JSON
        switch kind {
        case .json: obj = try applyJSONPatch(render(old.object, c), patch)
        case .strategic where ResourceCatalog.builtIns.contains(where: { $0.storageKey == c.type.storageKey }):
            obj = strategicMerge(render(old.object, c), patch)
        default: obj = render(old.object, c).applyingMergePatch(patch)
        }
        if let rv = obj.resourceVersion, !rv.isEmpty, rv != old.object.resourceVersion {
            throw APIError.staleConflict(c.type, name)
        }
        obj[path: ["metadata", "name"]] = .string(name)
        let sent = obj[path: ["metadata", "managedFields"]]
        obj = try checkBody(obj, c, name: name)
        obj = merged(old: old.object, new: obj, c, subresource: subresource)
        try admit(c, &obj, old: old.object)
        var managers = trackUpdate(old: old.object, new: obj, managers: old.managers, c)
        if let sent, sent != old.object[path: ["metadata", "managedFields"]], let given = Self.parseManagedFields(sent) { managers = given }
        return try finish(c, name: name, old: old, new: obj, managers: managers)
    }

    // MARK: server-side apply

    func apply(_ name: String, _ body: JSON, force: Bool, _ c: WriteContext) throws -> JSON {
        var applied = try checkBody(body, c, name: name)
        for k in Self.serverMetadata { applied[path: ["metadata", k]] = nil }
        if c.type.hasStatus { applied["status"] = nil }
        let includeStatus = !c.type.hasStatus
        let schema = schemaNode(c.type, version: c.version)
        let appliedFlat = FieldPaths.flatten(object: applied, includeStatus: includeStatus, schema: schema)
        let newPaths = Set(appliedFlat.keys)
        let now = timestamp()
        guard let old = stored(c.type, c.namespace, name) else {
            try validateName(c.type, name)
            try requireNamespace(c, name: name)
            var obj = applied
            try admit(c, &obj, old: nil)
            let entry = ManagerEntry(manager: c.manager, operation: "Apply", apiVersion: c.apiVersion, time: now, paths: newPaths)
            return try finish(c, name: name, old: nil, new: obj, managers: newPaths.isEmpty ? [] : [entry])
        }
        let liveFlat = FieldPaths.flatten(object: old.object, includeStatus: includeStatus, schema: schema)
        var managers = old.managers
        let mine = managers.firstIndex { $0.manager == c.manager && $0.operation == "Apply" }
        var conflicts: [(manager: String, path: String)] = []
        for (i, e) in managers.enumerated() where i != mine {
            for p in e.paths where !p.hasSuffix(".") {
                if let v = appliedFlat[p], liveFlat[p] != v { conflicts.append((Self.printManager(e), p)) }
            }
        }
        if !conflicts.isEmpty {
            if !force { throw Self.applyConflict(c, name, conflicts) }
            let lost = Set(conflicts.map(\.path))
            for i in managers.indices where i != mine { managers[i].paths.subtract(lost) }
        }
        let oldPaths = mine.map { managers[$0].paths } ?? []
        var others = Set<String>()
        for (i, e) in managers.enumerated() where i != mine { others.formUnion(e.paths) }
        var obj = old.object
        let kept = newPaths.union(others)
        // As structured-merge-diff's Updater.prune: what this manager applied before and nobody owns now goes; a list
        // item whole (before its fields: removing its key fields first would lose it), never what another owner keeps
        // inside; then the named fields above it that are left empty and owned by nobody.
        let dropped = oldPaths.subtracting(newPaths).subtracting(others)
        let isItem = { (p: String) in p.hasSuffix("\u{1}.") }
        for p in dropped.filter(isItem).sorted(by: >) + dropped.filter({ !isItem($0) }).sorted(by: >) {
            let inside = isItem(p) ? String(p.dropLast(1)) : p + "\u{1}"
            if kept.contains(where: { $0.hasPrefix(inside) }) { continue }
            obj = FieldPaths.removing(p, from: obj)
        }
        for p in dropped.sorted(by: >) { obj = FieldPaths.removingEmptyNamedParents(of: p, from: obj, schema: schema, kept: kept) }
        obj = applyMerge(obj, applied, schema: schema)
        obj = merged(old: old.object, new: obj, c, subresource: nil)
        // As the real server does for kubectl's server-side apply: keep an existing client-side apply
        // annotation up to date, so that switching back to client-side apply stays correct.
        let lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
        if c.manager == "kubectl", old.object.annotations[lastApplied] != nil {
            var config = Self.withoutNulls(body)
            config[path: ["metadata", "annotations", lastApplied]] = nil
            if config[path: ["metadata", "annotations"]] == nil { config[path: ["metadata", "annotations"]] = [:] }  // as kubectl writes it
            obj[path: ["metadata", "annotations", lastApplied]] = .string(canonicalText(config) + "\n")
        }
        try admit(c, &obj, old: old.object)
        if let mine {
            if managers[mine].paths != newPaths || managers[mine].apiVersion != c.apiVersion {
                managers[mine].paths = newPaths; managers[mine].time = now; managers[mine].apiVersion = c.apiVersion
            }
        } else if !newPaths.isEmpty {
            managers.append(ManagerEntry(manager: c.manager, operation: "Apply", apiVersion: c.apiVersion, time: now, paths: newPaths))
        }
        managers.removeAll { $0.paths.isEmpty }
        return try finish(c, name: name, old: old, new: obj, managers: managers)
    }

    /// The 409 of a refused apply, as k8s.io/apiserver's fieldmanager NewConflictError and getConflictMessage write
    /// it; `manager` is printManager's text (`"kubectl-edit" using apps/v1`).
    static func applyConflict(_ c: WriteContext, _ name: String, _ conflicts: [(manager: String, path: String)]) -> APIError {
        let causes: [JSON] = conflicts.map {
            ["reason": "FieldManagerConflict", "message": .string("conflict with \($0.manager)"), "field": .string(FieldPaths.display($0.path))]
        }
        var message = "Apply failed with \(conflicts.count) conflict" + (conflicts.count == 1 ? ": conflict with \(conflicts[0].manager): \(FieldPaths.display(conflicts[0].path))" : "s: ")
        if conflicts.count > 1 {
            let byManager = Dictionary(grouping: conflicts, by: \.manager)
            message += byManager.keys.sorted().map { m in
                (["conflicts with \(m):"] + byManager[m]!.map { "- " + FieldPaths.display($0.path) }).joined(separator: "\n")
            }.joined(separator: "\n")
        }
        return APIError(code: 409, reason: "Conflict", message: message,
                        details: ["name": .string(name), "group": .string(c.type.group), "kind": .string(c.type.resource), "causes": .array(causes)])
    }

    /// A manager as conflict messages name it (fieldmanager printManager): quoted, and `using APIVERSION` for an Update.
    static func printManager(_ e: ManagerEntry) -> String {
        "\"\(e.manager)\"" + (e.operation == "Update" ? " using \(e.apiVersion)" : "")
    }

    /// Ownership after an Update: the writer owns what it changed, others lose it; removed fields are nobody's.
    func trackUpdate(old: JSON?, new: JSON, managers: [ManagerEntry], _ c: WriteContext) -> [ManagerEntry] {
        let includeStatus = !c.type.hasStatus
        let schema = schemaNode(c.type, version: c.version)
        let oldFlat = old.map { FieldPaths.flatten(object: $0, includeStatus: includeStatus, schema: schema) } ?? [:]
        let newFlat = FieldPaths.flatten(object: new, includeStatus: includeStatus, schema: schema)
        var changed = Set<String>()
        for (p, v) in newFlat where oldFlat[p] != v { changed.insert(p) }
        let removed = Set(oldFlat.keys).subtracting(newFlat.keys)
        if changed.isEmpty && removed.isEmpty { return managers }
        var out = managers.map { e -> ManagerEntry in var e = e; e.paths.subtract(changed); e.paths.subtract(removed); return e }
        if let i = out.firstIndex(where: { $0.manager == c.manager && $0.operation == "Update" }) {
            out[i].paths.formUnion(changed); out[i].time = timestamp(); out[i].apiVersion = c.apiVersion
        } else if !changed.isEmpty {
            out.append(ManagerEntry(manager: c.manager, operation: "Update", apiVersion: c.apiVersion, time: timestamp(), paths: changed))
        }
        return out.filter { !$0.paths.isEmpty }
    }

    /// Sets server metadata, skips no-op writes (no new resourceVersion), stores unless dry run.
    func finish(_ c: WriteContext, name: String, old: StoredObject?, new: JSON, managers: [ManagerEntry]) throws -> JSON {
        var obj = new
        if let old {
            let before = Self.content(old.object), after = Self.content(obj)
            let sameManagers = old.managers.map { [$0.manager, $0.operation, $0.apiVersion] } == managers.map { [$0.manager, $0.operation, $0.apiVersion] }
                && zip(old.managers, managers).allSatisfy { $0.paths == $1.paths }
            if before == after && sameManagers { return render(old.object, c) }
            var gen = old.object[path: ["metadata", "generation"]]?.int ?? 1
            if Self.spec(old.object) != Self.spec(obj) { gen += 1 }
            obj[path: ["metadata", "generation"]] = .int(gen)
        } else {
            obj[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
            obj[path: ["metadata", "creationTimestamp"]] = .string(timestamp())
            obj[path: ["metadata", "generation"]] = 1
        }
        obj[path: ["metadata", "managedFields"]] = managers.isEmpty ? nil : .array(managers.map(Self.managedFieldsEntry))
        if c.dryRun {
            if old == nil { obj[path: ["metadata", "resourceVersion"]] = nil }
            return render(obj, c)
        }
        obj[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        commit(c.type, c.namespace, name, StoredObject(object: obj, managers: managers), type: old == nil ? "ADDED" : "MODIFIED", object: obj)
        finishDeletion(c.type, c.namespace, name)
        return render(obj, c)
    }

    static func managedFieldsEntry(_ e: ManagerEntry) -> JSON {
        ["manager": .string(e.manager), "operation": .string(e.operation), "apiVersion": .string(e.apiVersion),
         "time": .string(e.time), "fieldsType": "FieldsV1", "fieldsV1": FieldPaths.fieldsV1(e.paths)]
    }

    /// The object without what changes on every write (resourceVersion, managedFields, generation).
    static func content(_ o: JSON) -> JSON {
        var x = o
        for k in ["resourceVersion", "managedFields", "generation"] { x[path: ["metadata", k]] = nil }
        return x
    }

    /// What bumps generation: everything but metadata and status.
    static func spec(_ o: JSON) -> JSON {
        var x = o; x["metadata"] = nil; x["status"] = nil; return x
    }

    // MARK: delete

    /// DELETE as the real registry does it (k8s.io/apiserver pkg/registry/generic/registry/store.go): an object
    /// with finalizers, or deleted with `propagationPolicy` Foreground or Orphan (which add the
    /// `foregroundDeletion` or `orphan` finalizer), only gets `deletionTimestamp` and stays until its finalizers
    /// are removed; a Namespace always goes through `Terminating` (the namespace controller empties it). Other
    /// objects go at once; the garbage collector then deletes their dependents (Background, the default).
    func delete(_ name: String, _ c: WriteContext, propagation: String? = nil) throws -> JSON {
        guard let old = stored(c.type, c.namespace, name) else { throw APIError.notFound(c.type, name) }
        if let p = propagation, !["Foreground", "Background", "Orphan"].contains(p) {
            throw APIError.invalid(c.type, name, [("propagationPolicy", "Unsupported value: \"\(p)\": supported values: \"Foreground\", \"Background\", \"Orphan\"")])
        }
        var obj = old.object
        var finalizers = obj[path: ["metadata", "finalizers"]]?.array ?? []
        if propagation == "Foreground", !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
        if propagation == "Orphan", !finalizers.contains("orphan") { finalizers.append("orphan") }
        let graceful = c.type.storageKey == "namespaces" || !finalizers.isEmpty
        if c.dryRun {
            if graceful, obj[path: ["metadata", "deletionTimestamp"]] == nil { obj[path: ["metadata", "deletionTimestamp"]] = .string(timestamp()) }
            return render(obj, c)
        }
        if graceful {
            let unchanged = obj[path: ["metadata", "deletionTimestamp"]] != nil && (obj[path: ["metadata", "finalizers"]]?.array ?? []) == finalizers
            if unchanged { return render(obj, c) }
            if obj[path: ["metadata", "deletionTimestamp"]] == nil {
                obj[path: ["metadata", "deletionTimestamp"]] = .string(timestamp())
                obj[path: ["metadata", "deletionGracePeriodSeconds"]] = 0
            }
            obj[path: ["metadata", "finalizers"]] = finalizers.isEmpty ? nil : .array(finalizers)
            if c.type.storageKey == "namespaces" { obj[path: ["status", "phase"]] = "Terminating" }
            obj[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
            commit(c.type, c.namespace, name, StoredObject(object: obj, managers: old.managers), type: "MODIFIED", object: obj)
            return render(obj, c)
        }
        remove(c.type, c.namespace, name)
        obj[path: ["metadata", "deletionTimestamp"]] = .string(timestamp())
        return render(obj, c)
    }

    /// An object being deleted whose last finalizer went: gone now (called after every write).
    func finishDeletion(_ t: ResourceType, _ ns: String, _ name: String) {
        guard let o = stored(t, ns, name)?.object, o[path: ["metadata", "deletionTimestamp"]] != nil,
              (o[path: ["metadata", "finalizers"]]?.array ?? []).isEmpty else { return }
        if t.storageKey == "namespaces", !(o[path: ["spec", "finalizers"]]?.array ?? []).isEmpty { return }
        remove(t, ns, name)
    }

    /// Removes an object now, telling watchers (and the garbage collector, through the controllers).
    func remove(_ t: ResourceType, _ ns: String, _ name: String) {
        guard var obj = stored(t, ns, name)?.object else { return }
        obj[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        commit(t, ns, name, nil, type: "DELETED", object: obj)
        if t.storageKey == "customresourcedefinitions.apiextensions.k8s.io", let served = ResourceCatalog.fromCRD(obj) {
            for (ons, n, _) in objects(served, namespace: nil) { remove(served, ons, n) }
            catalog.remove(group: served.group, resource: served.resource)
        }
    }

    /// Objects whose `ownerReferences` name `uid`: the garbage collector's dependents.
    func dependents(of uid: String) -> [(ResourceType, String, String, JSON)] {
        var out: [(ResourceType, String, String, JSON)] = []
        for t in catalog.all {
            for (ns, n, o) in objects(t, namespace: nil)
            where (o[path: ["metadata", "ownerReferences"]]?.array ?? []).contains(where: { $0["uid"]?.string == uid }) {
                out.append((t, ns, n, o))
            }
        }
        return out
    }
}
