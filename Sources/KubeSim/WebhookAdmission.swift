import Foundation
import KubeModel

/// Writes through admission webhooks, when `FaultSettings.callWebhooks` asks for them (off by default: a test
/// cluster's webhooks usually point at an istiod that does not exist).
///
/// kube-apiserver runs mutating webhooks on the decoded, defaulted object, one after another, each seeing the
/// previous one's result; it then validates, runs validating webhooks in parallel on the final object, and
/// stores (k8s.io/apiserver pkg/admission/plugin/webhook/mutating and validating dispatcher.go). Here the store
/// works under one lock and webhooks are slow remote calls, so the write is first made as a dry run to get the
/// object webhooks see, the webhooks' JSON Patches are then applied inside the real write (`WriteContext.mutations`)
/// at the point where admission happens. A write racing this one between the two can make them differ, which
/// only this simulation (not a real server) can see.
///
/// Not modelled: matchConditions (CEL), reinvocation, other versions under matchPolicy Equivalent, webhooks for
/// DELETE of a whole collection and for objects controllers write.
extension Server {
    func admittedThroughWebhooks(_ p: ResourcePath, _ req: SimRequest, _ c: WriteContext, user: SimUser) async -> SimResponse? {
        // Webhook configurations are never sent to webhooks (rules.go IsExemptAdmissionConfigurationResource).
        if p.type.group == "admissionregistration.k8s.io" { return nil }
        if req.method == "DELETE" && p.name == nil { return nil }
        let hooks = webhookConfigurations()
        if hooks.isEmpty { return nil }
        let ns = p.namespace ?? ""
        let stored = p.name.flatMap { n in store.withLock { st in st.stored(p.type, ns, n)?.object } }
        let operation = req.method == "POST" ? "CREATE" : req.method == "DELETE" ? "DELETE" : stored == nil ? "CREATE" : "UPDATE"
        var a = AdmissionAttributes(
            operation: operation, type: p.type, version: p.version, subresource: p.subresource ?? "",
            namespace: p.type.resource == "namespaces" && p.type.group.isEmpty ? (p.name ?? "") : ns, name: p.name ?? "",
            object: nil, oldObject: operation == "CREATE" ? nil : stored.map { c.rendered($0) }, user: user, dryRun: c.dryRun,
            options: ["kind": .string(operation == "CREATE" ? "CreateOptions" : operation == "DELETE" ? "DeleteOptions" : "UpdateOptions"),
                      "apiVersion": "meta.k8s.io/v1", "fieldManager": req.query["fieldManager"].map { .string($0) } ?? .null])
        if operation != "DELETE" {
            // A write that fails without webhooks fails before admission anyway.
            guard let o = preview(p, req, c, mutations: []) else { return perform(p, req, c) }
            a.object = o
            if a.name.isEmpty { a.name = o.name ?? "" }
        }
        func namespaceLabels() -> [String: String]? {
            if p.type.group.isEmpty && p.type.resource == "namespaces" { return (a.object ?? a.oldObject)?.labels }
            return ns.isEmpty ? nil : store.withLock { st in st.namespaceExists(ns)?.labels }
        }
        func dryRunRefusal(_ w: AdmissionWebhook) -> APIError? {
            // dispatcher.go callHook: on a dry run, only webhooks without side effects are called.
            guard a.dryRun, !["None", "NoneOnDryRun"].contains(w.spec["sideEffects"]?.string ?? "") else { return nil }
            return .badRequest("admission webhook \"\(w.name)\" does not support dry run")
        }
        let labels = namespaceLabels()
        var warnings: [String] = []
        var mutations: [JSON] = []
        for w in hooks where w.mutating && w.matches(a, namespaceLabels: labels) {
            if let refusal = dryRunRefusal(w) { return .error(refusal) }
            switch await webhooks.call(w, a, service: service(of: w)) {
            case .allowed(let patch, let warned):
                warnings += warned
                guard let patch, let object = a.object else { continue }
                do { a.object = try applyJSONPatch(object, patch); mutations.append(patch) }
                catch { return .error(Self.callingFailure(w, "JSON Patch: \(error)")) }
            case .rejected(let e): return .error(e)
            case .callFailed(let reason):
                if w.ignoresFailures { continue }
                return .error(Self.callingFailure(w, reason))
            }
        }
        if !mutations.isEmpty {
            guard let o = preview(p, req, c, mutations: mutations) else {
                var mutated = c
                mutated.mutations = mutations
                return perform(p, req, mutated)
            }
            a.object = o
        }
        let validating = hooks.filter { !$0.mutating && $0.matches(a, namespaceLabels: labels) }
        for w in validating { if let refusal = dryRunRefusal(w) { return .error(refusal) } }
        let attributes = a
        let outcomes = await withTaskGroup(of: (Int, WebhookOutcome).self) { group in
            for (i, w) in validating.enumerated() {
                let service = service(of: w)
                group.addTask { (i, await self.webhooks.call(w, attributes, service: service)) }
            }
            var out: [(Int, WebhookOutcome)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        for (w, outcome) in zip(validating, outcomes) {
            switch outcome {
            case .allowed(_, let warned): warnings += warned
            case .rejected(let e): return .error(e)
            case .callFailed(let reason): if !w.ignoresFailures { return .error(Self.callingFailure(w, reason)) }
            }
        }
        var final = c
        final.mutations = mutations
        let answer = perform(p, req, final)
        return warnings.isEmpty ? answer : .warned(answer, warnings)
    }

    /// A Pod the ReplicaSet controller creates, as its API request: through admission webhooks, as the
    /// replicaset-controller service account. The refusal, if any.
    func createPodAsController(namespace: String, _ pod: JSON) async -> APIError? {
        guard let t = store.withLock({ st in st.catalog.lookup(group: "", kind: "Pod") }) else { return nil }
        let req = SimRequest(method: "POST", path: "/api/v1/namespaces/\(namespace)/pods", segments: ["api", "v1", "namespaces", namespace, "pods"],
                             query: ["fieldManager": "kube-controller-manager"], contentType: "application/json", accept: "application/json",
                             body: Data(canonicalBytes(pod)))
        let p = ResourcePath(type: t, version: "v1", namespace: namespace, name: nil, subresource: nil)
        let c = WriteContext(type: t, version: "v1", namespace: namespace, manager: "kube-controller-manager", dryRun: false)
        let user = SimUser(recorded: "system:serviceaccount:kube-system:replicaset-controller")
        var answer = await admittedThroughWebhooks(p, req, c, user: user) ?? perform(p, req, c)
        while case .warned(let inner, _) = answer { answer = inner }
        if case .error(let e) = answer { return e }
        return nil
    }

    /// The object the write would store (a dry run of it); nil if the write fails.
    private func preview(_ p: ResourcePath, _ req: SimRequest, _ c: WriteContext, mutations: [JSON]) -> JSON? {
        var dry = c
        dry.dryRun = true
        dry.warnings = Warnings()   // the real write reports them
        dry.mutations = mutations
        var answer = perform(p, req, dry)
        while case .warned(let inner, _) = answer { answer = inner }
        if case .json(_, let object) = answer { return object }
        return nil
    }

    /// A webhook that could not be called, with failurePolicy Fail: kube-apiserver's InternalError
    /// (apierrors.NewInternalError of util/webhook ErrCallingWebhook).
    static func callingFailure(_ w: AdmissionWebhook, _ reason: String) -> APIError {
        let message = "failed calling webhook \"\(w.name)\": \(reason)"
        return APIError(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
                        details: ["causes": [["message": .string(message)]]])
    }

    /// Every webhook of every stored configuration: mutating ones by configuration name, as kube-apiserver orders
    /// them, then validating ones.
    func webhookConfigurations() -> [AdmissionWebhook] {
        store.withLock { st in
            var out: [AdmissionWebhook] = []
            for (kind, mutating) in [("MutatingWebhookConfiguration", true), ("ValidatingWebhookConfiguration", false)] {
                guard let t = st.catalog.lookup(group: "admissionregistration.k8s.io", kind: kind) else { continue }
                for (_, name, o) in st.objects(t, namespace: nil) {
                    for w in o["webhooks"]?.array ?? [] { out.append(AdmissionWebhook(configuration: name, mutating: mutating, spec: w)) }
                }
            }
            return out
        }
    }

    /// The Service a webhook's `clientConfig.service` names, as stored.
    func service(of w: AdmissionWebhook) -> JSON? {
        guard let ref = w.spec[path: ["clientConfig", "service"]], let name = ref["name"]?.string, let ns = ref["namespace"]?.string,
              let t = ResourceCatalog.builtIns.first(where: { $0.storageKey == "services" }) else { return nil }
        return store.withLock { st in st.stored(t, ns, name)?.object }
    }
}
