import Foundation
import Hummingbird
import NIOCore
import KubeModel

/// Streaming watch (`?watch=true`): newline-delimited `{"type":...,"object":...}` events for one kind,
/// optionally one namespace, one name (`fieldSelector=metadata.name=x`, what `kubectl wait` and
/// `kubectl delete --wait` use) and a label selector. Without a resourceVersion (or with "0") it first
/// sends every matching object as ADDED; with one, it replays the recent events after it.
/// It ends after `timeoutSeconds` (default 300) or when the KubeSim stops.
extension Server {
    func watch(_ p: ResourcePath, _ req: SimRequest) -> SimResponse {
        let selector: LabelSelector?
        do { selector = try Self.labelSelector(req) } catch { return .error(error) }
        var filter = WatchFilter(storageKey: p.type.storageKey, namespace: p.type.namespaced ? p.namespace : nil, name: nil,
                                 selector: selector)
        for term in (req.query["fieldSelector"] ?? "").split(separator: ",") {
            let kv = term.components(separatedBy: term.contains("==") ? "==" : "=")
            if kv.count == 2, kv[0] == "metadata.name" { filter.name = kv[1] }
            if kv.count == 2, kv[0] == "metadata.namespace" { filter.namespace = kv[1] }
        }
        let store = self.store
        let (stream, continuation) = AsyncStream<WatchEvent>.makeStream()
        let id = UUID()
        let since = Int(req.query["resourceVersion"] ?? "") ?? 0
        // A watch-list (KEP-3157: `sendInitialEvents=true`, resourceVersionMatch=NotOlderThan): the current state as
        // ADDED events whatever resourceVersion says, then a BOOKMARK annotated `k8s.io/initial-events-end`
        // (metav1.InitialEventsAnnotationKey). client-go's reflector (Helm's --wait, informers) uses it and, without
        // that bookmark, waits for it until its deadline.
        let watchList = req.query["sendInitialEvents"] == "true"
        let c = WriteContext(type: p.type, version: p.version, namespace: p.namespace ?? "", manager: "", dryRun: false)
        let initial: [(String, JSON)] = store.withLock { st in
            if since > 0, since < st.compactedRevision, !watchList {
                // As the watch cache answers a resourceVersion older than its window: one ERROR event, 410 Expired.
                continuation.finish()
                return [("ERROR", APIError(code: 410, reason: "Expired", message: "too old resource version: \(since) (\(st.compactedRevision))").status)]
            }
            st.watchers[id] = (filter, continuation)
            if since == 0 || watchList {
                let current = st.objects(p.type, namespace: filter.namespace)
                    .filter { filter.name == nil || $0.1 == filter.name }
                    .filter { filter.selector?.matches($0.2.labels) ?? true }
                    .map { ("ADDED", st.render($0.2, c)) }
                guard watchList else { return current }
                let end: JSON = ["kind": .string(p.type.kind), "apiVersion": .string(c.apiVersion),
                                 "metadata": ["resourceVersion": .string(String(st.revision)),
                                              "annotations": ["k8s.io/initial-events-end": "true"]]]
                return current + [("BOOKMARK", end)]
            }
            return st.history.filter { $0.resourceVersion > since && filter.matches($0) }.map { ($0.type, st.render($0.object, c)) }
        }
        let timeout = Double(req.query["timeoutSeconds"] ?? "") ?? 300
        let timer = Task {
            try? await Task.sleep(for: .seconds(timeout))
            continuation.finish()
        }
        continuation.onTermination = { _ in
            timer.cancel()
            store.withLock { st in _ = st.watchers.removeValue(forKey: id) }
        }
        let body = ResponseBody { writer in
            defer { continuation.finish() }
            for (type, obj) in initial {
                try await writer.write(ByteBuffer(bytes: canonicalBytes(["type": .string(type), "object": obj]) + [0x0A]))
            }
            for await e in stream {
                let line = canonicalBytes(["type": .string(e.type), "object": store.withLock { st in st.render(e.object, c) }]) + [0x0A]
                try await writer.write(ByteBuffer(bytes: line))
            }
            try await writer.finish(nil)
        }
        return .stream(body)
    }
}
