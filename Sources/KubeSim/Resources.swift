import Foundation
import Hummingbird
import NIOCore
import KubeModel
import Yams

/// Where a resource request points: the kind, version, namespace, object name and subresource.
struct ResourcePath {
    var type: ResourceType
    var version: String
    var namespace: String?
    var name: String?
    var subresource: String?
}

extension Server {
    func parsePath(_ s: [String]) -> Result<ResourcePath, APIError> {
        let group: String, version: String, rest: ArraySlice<String>
        if s.first == "api", s.count >= 3 { group = ""; version = s[1]; rest = s[2...] }
        else if s.first == "apis", s.count >= 4 { group = s[1]; version = s[2]; rest = s[3...] }
        else { return .failure(.pathNotFound("/" + s.joined(separator: "/"))) }
        let r = Array(rest)
        return store.withLock { st in
            if r.count >= 3, r[0] == "namespaces", let t = st.catalog.lookup(group: group, version: version, resource: r[2]), t.namespaced {
                return .success(ResourcePath(type: t, version: version, namespace: r[1], name: r.count > 3 ? r[3] : nil, subresource: r.count > 4 ? r[4] : nil))
            }
            guard let t = st.catalog.lookup(group: group, version: version, resource: r[0]) else {
                return .failure(.pathNotFound("/" + s.joined(separator: "/")))
            }
            return .success(ResourcePath(type: t, version: version, namespace: nil, name: r.count > 1 ? r[1] : nil, subresource: r.count > 2 ? r[2] : nil))
        }
    }

    func resource(_ req: SimRequest, faults: FaultSettings, user: SimUser) async -> SimResponse {
        let p: ResourcePath
        switch parsePath(req.segments) { case .success(let x): p = x; case .failure(let e): return .error(e) }
        let collection = req.method == "GET" && p.name == nil
        count(verb: p.subresource.map { "\(req.method) \($0)" } ?? (collection ? (req.flag("watch") ? "WATCH" : "LIST") : req.method))
        let ns = p.namespace ?? ""
        if let denied = authorize(req, p, user: user) { return .error(denied) }
        let isWrite = ["POST", "PUT", "PATCH", "DELETE"].contains(req.method)
        if isWrite, !faults.failWrites.isEmpty {
            let name = p.name ?? ((try? parseBody(req))?.name ?? "")
            if faults.failsWrite(kind: p.type.kind, namespace: ns, name: name) {
                return .error(APIError(code: 500, reason: "InternalError", message: "Internal error occurred: injected fault: writes to \(p.type.qualifiedName) \"\(name)\" fail"))
            }
        }
        let manager = req.query["fieldManager"] ?? "kubesim-client"
        var c = WriteContext(type: p.type, version: p.version, namespace: ns, manager: manager, dryRun: req.dryRun)
        if let v = req.query["fieldValidation"] {
            guard let mode = FieldValidation(rawValue: v) else {
                return .error(.badRequest("fieldValidation parameter unsupported: \(v)"))   // as kube-apiserver words it
            }
            c.validation = mode
        }
        var answer: SimResponse
        if isWrite, faults.callWebhooks, let admitted = await admittedThroughWebhooks(p, req, c, user: user) { answer = admitted }
        else { answer = perform(p, req, c) }
        return c.warnings.messages.isEmpty ? answer : .warned(answer, c.warnings.messages)
    }

    func perform(_ p: ResourcePath, _ req: SimRequest, _ c: WriteContext) -> SimResponse {
        let ns = p.namespace ?? "", manager = c.manager
        do {
            if let sub = p.subresource, sub != "status" {
                if sub == "token", p.type.storageKey == "serviceaccounts", req.method == "POST", let name = p.name {
                    return try tokenRequest(ns: ns, name: name, req)
                }
                if sub == "scale", Self.scalable.contains(p.type.storageKey), let name = p.name {
                    return try scale(p, name: name, req, c)
                }
                return .error(.pathNotFound(req.path))
            }
            switch (req.method, p.name) {
            case ("GET", nil):
                if req.flag("watch") { return watch(p, req) }
                return .json(200, try list(p, req))
            case ("GET", let name?):
                guard let o = store.withLock({ st in st.stored(p.type, ns, name) }) else { throw APIError.notFound(p.type, name) }
                let obj = c.rendered(o.object)
                return .json(200, wantsTable(req) ? Table.of([obj], listMeta: nil) : obj)
            case ("POST", nil):
                let body = try parseBody(req)
                return .json(201, try store.withLock { st in try st.create(body, c) })
            case ("PUT", let name?):
                let body = try parseBody(req)
                return .json(200, try store.withLock { st in try st.update(name, body, c, subresource: p.subresource) })
            case ("PATCH", let name?):
                let kind: PatchKind
                let ct = req.contentType
                if ct.hasPrefix("application/apply-patch") { kind = .apply }
                else if ct.hasPrefix("application/strategic-merge-patch") { kind = .strategic }
                else if ct.hasPrefix("application/merge-patch") { kind = .merge }
                else if ct.hasPrefix("application/json-patch") { kind = .json }
                else { throw APIError.unsupportedMediaType(ct) }
                if kind == .apply, req.query["fieldManager"] == nil {
                    throw APIError.badRequest("PATCH /apply requires fieldManager to be set")
                }
                let body = try parseBody(req)
                let existed = store.withLock { st in st.stored(p.type, ns, name) != nil }
                let out = try store.withLock { st in try st.patch(name, body, kind: kind, force: req.flag("force"), c, subresource: p.subresource) }
                return .json(kind == .apply && !existed ? 201 : 200, out)
            case ("DELETE", let name?):
                let policy = try propagationPolicy(req)
                return .json(200, try store.withLock { st in try st.delete(name, c, propagation: policy) })
            case ("DELETE", nil):
                let policy = try propagationPolicy(req)
                let items = try list(p, req)["items"]?.array ?? []
                try store.withLock { st in for o in items { if let n = o.name { _ = try st.delete(n, WriteContext(type: p.type, version: p.version, namespace: o.namespace ?? ns, manager: manager, dryRun: req.dryRun), propagation: policy) } } }
                return .json(200, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success"])
            default:
                throw APIError.methodNotAllowed(req.method)
            }
        } catch let e as APIError {
            return .error(e)
        } catch {
            return .error(.badRequest("\(error)"))
        }
    }

    static let scalable: Set<String> = ["deployments.apps", "replicasets.apps", "statefulsets.apps"]

    /// The `scale` subresource (autoscaling/v1 Scale), what `kubectl scale` and autoscalers read and write:
    /// `spec.replicas` of the object, with its selector and observed replicas.
    func scale(_ p: ResourcePath, name: String, _ req: SimRequest, _ c: WriteContext) throws -> SimResponse {
        func view(_ o: JSON) -> JSON {
            let labels = o[path: ["spec", "selector", "matchLabels"]]?.object ?? [:]
            var status: JSON = ["replicas": o[path: ["status", "replicas"]] ?? 0]
            if !labels.isEmpty { status["selector"] = .string(labels.keys.sorted().map { "\($0)=\(labels[$0]?.string ?? "")" }.joined(separator: ",")) }
            return ["kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": ["name": o[path: ["metadata", "name"]] ?? "", "namespace": o[path: ["metadata", "namespace"]] ?? "",
                                 "uid": o[path: ["metadata", "uid"]] ?? "", "resourceVersion": o[path: ["metadata", "resourceVersion"]] ?? "",
                                 "creationTimestamp": o[path: ["metadata", "creationTimestamp"]] ?? ""],
                    "spec": ["replicas": o[path: ["spec", "replicas"]] ?? 1], "status": status]
        }
        return .json(200, try store.withLock { st in
            guard let old = st.stored(p.type, c.namespace, name) else { throw APIError.notFound(p.type, name) }
            let current = view(old.object)
            let wanted: JSON
            switch req.method {
            case "GET": return current
            case "PUT": wanted = try parseBody(req)
            case "PATCH":
                let body = try parseBody(req)
                wanted = req.contentType.hasPrefix("application/json-patch") ? try applyJSONPatch(current, body) : current.applyingMergePatch(body)
            default: throw APIError.methodNotAllowed(req.method)
            }
            if let rv = wanted[path: ["metadata", "resourceVersion"]]?.string, !rv.isEmpty, rv != old.object.resourceVersion {
                throw APIError.staleConflict(p.type, name)
            }
            guard let replicas = wanted[path: ["spec", "replicas"]]?.int, replicas >= 0 else {
                throw APIError.invalid(p.type, name, [("spec.replicas", "Invalid value: must be greater than or equal to 0")])
            }
            let patch: JSON = ["spec": ["replicas": .int(replicas)]]
            let out = try st.patch(name, patch, kind: .merge, force: false, c, subresource: nil)
            return view(out)
        })
    }

    /// `propagationPolicy` from the query or the DeleteOptions body (kubectl sends the body), or the legacy
    /// `orphanDependents`.
    func propagationPolicy(_ req: SimRequest) throws -> String? {
        let options = req.body.isEmpty ? [:] : try parseBody(req)
        if let p = req.query["propagationPolicy"] ?? options["propagationPolicy"]?.string { return p }
        if req.query["orphanDependents"] == "true" || options["orphanDependents"] == true { return "Orphan" }
        return nil
    }

    func parseBody(_ req: SimRequest) throws -> JSON {
        if req.contentType.contains("protobuf") {
            let known = ["Namespace", "ServiceAccount", "ConfigMap", "Secret", "TokenRequest", "SelfSubjectAccessReview", "DeleteOptions"]
            if let o = KubeProtobuf.decode(req.body), known.contains(o.kind ?? "") { return o }
            throw APIError.unsupportedMediaType(req.contentType)
        }
        if req.contentType.contains("cbor") { throw APIError.unsupportedMediaType(req.contentType) }
        let firstByte = req.body.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if firstByte == UInt8(ascii: "{") || firstByte == UInt8(ascii: "[") {
            do { return try JSON.parse(req.body) } catch { throw APIError.badRequest("invalid JSON in request body: \(error)") }
        }
        guard req.contentType.contains("yaml") else { throw APIError.badRequest("the request body is not JSON") }
        do { return try YAMLDocuments.parseOne(String(decoding: req.body, as: UTF8.self)) }
        catch { throw APIError.badRequest("invalid YAML in request body: \(error)") }
    }

    func wantsTable(_ req: SimRequest) -> Bool { req.accept.contains("as=Table") }

    /// `?labelSelector=`, refused with 400 where kube-apiserver refuses it (`labels.Parse` in the conversion of
    /// ListOptions, `Convert_string_To_labels_Selector`).
    static func labelSelector(_ req: SimRequest) throws(APIError) -> LabelSelector? {
        guard let text = req.query["labelSelector"] else { return nil }
        do { return try LabelSelector.parse(text) } catch { throw APIError.badRequest(error.message) }
    }

    /// Objects matching label and field selectors, paged by `limit` and `continue`.
    func matching(_ p: ResourcePath, _ req: SimRequest) throws -> (items: [JSON], next: String?, remaining: Int, revision: Int) {
        let selector = try Self.labelSelector(req)
        let fields = (req.query["fieldSelector"] ?? "").split(separator: ",").compactMap { term -> (String, String, Bool)? in
            let neg = term.contains("!=")
            let kv = term.components(separatedBy: neg ? "!=" : (term.contains("==") ? "==" : "="))
            return kv.count == 2 ? (kv[0], kv[1], neg) : nil
        }
        let limit = Int(req.query["limit"] ?? "") ?? 0
        var after: (String, String)?
        var listRevision: Int?
        if let cont = req.query["continue"], !cont.isEmpty {
            // The token is kube-apiserver's: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"ns/name"}
            // (k8s.io/apiserver pkg/storage continue.go); rv is the revision of the list's first page.
            guard let d = Data(base64Encoded: cont), let token = try? JSON.parse(d), token["v"] == "meta.k8s.io/v1",
                  let rv = token["rv"]?.int, let start = token["start"]?.string, let slash = start.firstIndex(of: "/") else {
                throw APIError.badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
            }
            let compacted = store.withLock { st in st.compactedRevision }
            if rv < compacted {
                throw APIError(code: 410, reason: "Expired", message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
            }
            after = (String(start[..<slash]), String(start[start.index(after: slash)...]))
            listRevision = rv
        }
        let c = WriteContext(type: p.type, version: p.version, namespace: p.namespace ?? "", manager: "", dryRun: false)
        return store.withLock { st in
            var out: [JSON] = []
            var next: String?
            var remaining = 0
            for (ns, name, obj) in st.objects(p.type, namespace: p.namespace) {
                if let a = after, (ns, name) <= a { continue }
                if let selector, !selector.matches(obj.labels) { continue }
                if !fields.allSatisfy({ f in
                    let v = obj[path: f.0.split(separator: ".").map(String.init)]?.string ?? ""
                    return f.2 ? v != f.1 : v == f.1 }) { continue }
                if limit > 0, out.count >= limit { remaining += 1; continue }
                out.append(st.render(obj, c))
                if limit > 0, out.count == limit {
                    let token: JSON = ["v": "meta.k8s.io/v1", "rv": .int(listRevision ?? st.revision), "start": .string("\(ns)/\(name)")]
                    next = Data(canonicalBytes(token)).base64EncodedString()
                }
            }
            if remaining == 0 { next = nil }
            return (out, next, remaining, st.revision)
        }
    }

    func list(_ p: ResourcePath, _ req: SimRequest) throws -> JSON {
        let m = try matching(p, req)
        var meta: JSON = ["resourceVersion": .string(String(m.revision))]
        if let next = m.next { meta["continue"] = .string(next); meta["remainingItemCount"] = .int(m.remaining) }
        if wantsTable(req) { return Table.of(m.items, listMeta: meta) }
        return ["kind": .string(p.type.listKind), "apiVersion": .string(p.type.apiVersion(p.version)), "metadata": meta, "items": .array(m.items)]
    }

    func tokenRequest(ns: String, name: String, _ req: SimRequest) throws -> SimResponse {
        let body = (try? parseBody(req)) ?? [:]
        let seconds = body[path: ["spec", "expirationSeconds"]]?.int ?? 3600
        let token = randomToken()
        try store.withLock { st in
            guard let sa = st.catalog.lookup(group: "", kind: "ServiceAccount"), st.stored(sa, ns, name) != nil else {
                throw APIError.notFound(ResourceCatalog.builtIns[3], name)
            }
            st.tokens[token] = "system:serviceaccount:\(ns):\(name)"
            st.dirty = true
        }
        var out = body
        out["apiVersion"] = "authentication.k8s.io/v1"; out["kind"] = "TokenRequest"
        out[path: ["metadata", "name"]] = .string(name); out[path: ["metadata", "namespace"]] = .string(ns)
        out[path: ["metadata", "creationTimestamp"]] = .string(timestamp())
        out[path: ["spec", "expirationSeconds"]] = .int(seconds)
        if out[path: ["spec", "audiences"]] == nil { out[path: ["spec", "audiences"]] = ["https://kubernetes.default.svc.cluster.local"] }
        out["status"] = ["token": .string(token), "expirationTimestamp": .string(timestamp(Date().addingTimeInterval(Double(seconds))))]
        return .json(201, out)
    }
}

/// The `meta.k8s.io/v1` Table kubectl asks for to print `kubectl get`: name and age columns, each row
/// carrying its object so kubectl can add the namespace column and use `-o name`.
enum Table {
    static func of(_ items: [JSON], listMeta: JSON?) -> JSON {
        let now = Date()
        let f = ISO8601DateFormatter()
        let rows: [JSON] = items.map { o in
            let created = (o[path: ["metadata", "creationTimestamp"]]?.string).flatMap(f.date(from:)) ?? now
            return ["cells": [.string(o.name ?? ""), .string(age(now.timeIntervalSince(created)))], "object": o]
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMeta ?? ["resourceVersion": .string(items.first?.resourceVersion ?? "")],
                "columnDefinitions": [["name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0],
                                      ["name": "Age", "type": "string", "format": "", "description": "Time since creation", "priority": 0]],
                "rows": .array(rows)]
    }

    static func age(_ s: TimeInterval) -> String {
        let x = Int(max(0, s))
        if x < 120 { return "\(x)s" }
        if x < 7200 { return "\(x / 60)m" }
        if x < 172800 { return "\(x / 3600)h" }
        return "\(x / 86400)d"
    }
}
