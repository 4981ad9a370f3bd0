import KubeModel

/// The objects a revisioned control plane needs beyond what Istio's tools render: the gateway routing to the
/// revision's istiod, and the default revision tag on every data-plane cluster.
///
/// Routing: the guide's Gateway/VirtualService/DestinationRule (`GlueObjects.routing`) with istiod of the mesh
/// file's revision as destination, a DestinationRule of its own per revision (`external-istiod-dr-REV`, so two
/// revisions can be routed at once during an upgrade), and, first in the VirtualService, a route for
/// `/rev/REV/` on the webhook port rewritten to `/` and sent to that revision's istiod: the revision's own
/// injection webhook calls `https://ADDRESS:15017/rev/REV/inject/...`, so the webhooks of the old and the new
/// revision can call one address. The route must sit in the same VirtualService before the catch-all route:
/// VirtualServices merged on one gateway are ordered by creation time (istio/istio#10464), so a second
/// VirtualService created later would never be reached.
enum RevisionGlue {
    static let virtualServiceName = "external-istiod-vs"
    /// Routes Meshform adds for a revision are named `rev-REV` (how a phase finds them again).
    static let routeNamePrefix = "rev-"

    static func routing(_ t: MeshTopology) -> [JSON] {
        let rev = IstioRevision(t)
        let base = GlueObjects.routing(t.controlPlane)
        guard !rev.isDefault else { return base }
        let ns = t.controlPlane.namespace
        return base.map { o in
            var o = replacing(o, host(IstioRevision(nil), ns), with: host(rev, ns))
            if o.kind == "DestinationRule" { o[path: ["metadata", "name"]] = .string("external-istiod-dr" + rev.suffix) }
            if o.kind == "VirtualService" { o = addingRoute(rev, namespace: ns, to: o) }
            return o
        }
    }

    static func host(_ rev: IstioRevision, _ namespace: String) -> String { "\(rev.istiodName).\(namespace).svc.cluster.local" }

    /// The webhook route of one revision (TLS is terminated at the gateway, so the path can be matched).
    static func webhookRoute(_ rev: IstioRevision, namespace: String) -> JSON {
        ["name": .string(routeNamePrefix + rev.name),
         "match": [["port": 15017, "uri": ["prefix": .string(rev.webhookPathPrefix + "/")]]],
         "rewrite": ["uri": "/"],
         "route": [["destination": ["host": .string(host(rev, namespace)), "port": ["number": 443]]]]]
    }

    /// `vs` with the revision's webhook route first (replacing an earlier one of the same name). A VirtualService
    /// without HTTP routes (the IP-address variant passes TLS through) is returned as it is.
    static func addingRoute(_ rev: IstioRevision, namespace: String, to vs: JSON, at index: Int = 0) -> JSON {
        guard !rev.isDefault, var http = vs[path: ["spec", "http"]]?.array else { return vs }
        http.removeAll { $0["name"]?.string == routeNamePrefix + rev.name }
        http.insert(webhookRoute(rev, namespace: namespace), at: min(index, http.count))
        var out = vs
        out[path: ["spec", "http"]] = .array(http)
        return out
    }

    /// The revision routes (named `rev-...`) of a VirtualService.
    static func revisionRoutes(in vs: JSON) -> [JSON] {
        (vs[path: ["spec", "http"]]?.array ?? []).filter { $0["name"]?.string?.hasPrefix(routeNamePrefix) ?? false }
    }

    static func replacing(_ v: JSON, _ old: String, with new: String) -> JSON {
        switch v {
        case .string(let s): return s == old ? .string(new) : v
        case .array(let a): return .array(a.map { replacing($0, old, with: new) })
        case .object(let o): return .object(o.mapValues { replacing($0, old, with: new) })
        default: return v
        }
    }

    // MARK: - The default revision tag

    /// The default revision tag's injection webhook on a data-plane cluster: what `istioctl tag set default
    /// --revision REV` writes, Istio's revision-tags template for the tag `default` (istio/istio
    /// manifests/charts/istio-control/istio-discovery/templates/revision-tags-mwc.yaml): the revision's webhook core
    /// (`clientConfig`, rules, policies) four times, selecting pods and namespaces labelled `istio.io/rev=default`
    /// (`rev.namespace.`, `rev.object.`) and, as the unrevisioned install's webhooks do (mutatingwebhook.yaml's
    /// "webhooks for default revision"), namespaces labelled `istio-injection=enabled` (`namespace.`) and pods
    /// labelled `sidecar.istio.io/inject=true` (`object.`). It calls the webhook path without the revision prefix
    /// (which the gateway routes to the mesh file's revision) and is labelled `istio.io/tag: default`. It keeps the
    /// unrevisioned install's webhook name (`istio-sidecar-injector-NAMESPACE`, not the template's
    /// `istio-revision-tag-default-NAMESPACE`), so moving the tag from one revision to the next is one update of one
    /// object: never two webhooks injecting the same namespace, never a moment with none.
    static func defaultTag(revisionWebhook w: JSON, revision rev: IstioRevision, namespace: String) -> JSON {
        var tag = w
        tag[path: ["metadata", "name"]] = .string("istio-sidecar-injector-\(namespace)")
        var labels = w.labels
        labels["istio.io/tag"] = "default"
        tag[path: ["metadata", "labels"]] = .object(labels.mapValues(JSON.string))
        guard var core = w["webhooks"]?.array?.first else { return tag }
        core["namespaceSelector"] = nil
        core["objectSelector"] = nil
        if let url = core[path: ["clientConfig", "url"]]?.string {
            core[path: ["clientConfig", "url"]] = .string(url.replacingOccurrences(of: ":15017" + rev.webhookPathPrefix + "/", with: ":15017/"))
        }
        func expr(_ key: String, _ op: String, _ values: [String] = []) -> JSON {
            values.isEmpty ? ["key": .string(key), "operator": .string(op)]
                : ["key": .string(key), "operator": .string(op), "values": .array(values.map(JSON.string))]
        }
        let notDisabled = expr("sidecar.istio.io/inject", "NotIn", ["false"])
        let hooks: [(String, [JSON], [JSON])] = [
            ("rev.namespace.", [expr("istio.io/rev", "In", ["default"]), expr("istio-injection", "DoesNotExist")], [notDisabled]),
            ("rev.object.", [expr("istio.io/rev", "DoesNotExist"), expr("istio-injection", "DoesNotExist")],
             [notDisabled, expr("istio.io/rev", "In", ["default"])]),
            ("namespace.", [expr("istio-injection", "In", ["enabled"])], [notDisabled]),
            ("object.", [expr("istio-injection", "DoesNotExist"), expr("istio.io/rev", "DoesNotExist")],
             [expr("sidecar.istio.io/inject", "In", ["true"]), expr("istio.io/rev", "DoesNotExist")]),
        ]
        tag["webhooks"] = .array(hooks.map { prefix, ns, obj in
            var h = core
            h["name"] = .string(prefix + "sidecar-injector.istio.io")
            h["namespaceSelector"] = ["matchExpressions": .array(ns)]
            h["objectSelector"] = ["matchExpressions": .array(obj)]
            return h
        })
        return tag
    }

    /// Adds the default tag for every revision injection webhook the renderer produced (revisioned installs only).
    static func addDefaultTags(to set: inout ResourceSet, topology t: MeshTopology) throws {
        let rev = IstioRevision(t)
        guard !rev.isDefault else { return }
        let dataPlane = Set(t.dataPlaneClusters.map(\.name))
        let hooks = set.resources.values.filter {
            dataPlane.contains($0.address.cluster) && $0.address.kind == "MutatingWebhookConfiguration"
                && $0.body.labels["istio.io/rev"] == rev.name && $0.body.labels["istio.io/tag"] == nil
        }.sorted { $0.address.description < $1.address.description }
        for h in hooks {
            try set.add(cluster: h.address.cluster, body: defaultTag(revisionWebhook: h.body, revision: rev, namespace: t.controlPlane.namespace),
                        component: "revision-tag@\(h.address.cluster)")
        }
    }
}
