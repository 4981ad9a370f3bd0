import Foundation
import KubeClient
import KubeModel
import StateStore

/// Compares live objects with what Meshform last applied, field by field, for the fields Meshform manages.
/// Read-only and lock-free: it reads one consistent snapshot of the state and never takes the write lock.
public struct DriftDetector: Sendable {
    public var snapshot: StateSnapshot
    public var clients: [String: KubeClient]
    public var mesh: String
    /// Replaces secret values by the state's keyed hash, so they compare without being kept in clear.
    public var mask: @Sendable (JSON) -> JSON
    /// Ignore rules per address from the mesh file (built-in rules always apply).
    public var ignoreFields: [String: [String]]
    /// What the state knows once the live objects are listed (`StateStore.knownAddresses`): an apply running
    /// beside the check records each object in its journal before creating it, so reading again after the
    /// listing means nothing it creates is taken for an orphan.
    public var recheck: @Sendable () -> (addresses: Set<String>, runUnfinished: Bool)? = { nil }

    public init(snapshot: StateSnapshot, clients: [String: KubeClient], mesh: String,
                ignoreFields: [String: [String]] = [:], mask: @escaping @Sendable (JSON) -> JSON) {
        self.snapshot = snapshot; self.clients = clients; self.mesh = mesh
        self.ignoreFields = ignoreFields; self.mask = mask
    }

    /// How clusters are read: its widths (clusters at a time, LISTs per cluster) are drift's too, and it looks for the
    /// objects the labelled LISTs did not find.
    var reader: LiveReader { LiveReader(clients: clients) }

    public func check(configDrift: Bool?) async -> DriftReport {
        let start = ContinuousClock.now
        // Objects an unfinished run is changing are that run's business (its recovery's, if it died), not drift.
        let inFlight = Set(snapshot.unfinishedJournal.compactMap { $0.address?.description })
        let stateAddresses = Set(snapshot.objects.map(\.address))
        let byCluster = Dictionary(grouping: snapshot.objects, by: \.cluster).sorted { $0.key < $1.key }
            .map { ClusterObjects(cluster: $0.key, objects: $0.value) }
        var findings: [DriftReport.Finding] = []
        var unreachable: [String: String] = [:], listErrors: [String: String] = [:]
        var unknownLabelled: [String: [Labelled]] = [:]
        // A body applied in many clusters (the same CRD in each) is parsed once here, not once per cluster.
        var copies: [String: Int] = [:]
        for o in snapshot.objects { copies[o.appliedHash, default: 0] += 1 }
        var sharedBodies: [String: JSON] = [:]
        for o in snapshot.objects where copies[o.appliedHash]! > 1 && sharedBodies[o.appliedHash] == nil {
            sharedBodies[o.appliedHash] = o.applied
        }
        // Each cluster is compared as soon as its LISTs are done, then its live objects are dropped; only large parts met
        // in two clusters or more (the CRDs) are kept, to be found by their text in the next clusters instead of parsed.
        let interner = JSONInterner(holdsEveryValue: false), diffs = FieldDiff.Memo()
        // Each cluster's connections are closed once it is checked, as the read-only plan's (`LiveReader.closingConnections`).
        await forEachConcurrently(byCluster, width: reader.clusterParallelism, { [sharedBodies, clients] c in
            let check = await checkCluster(c.cluster, c.objects, inFlight: inFlight, stateAddresses: stateAddresses,
                                           sharedBodies: sharedBodies, sharing: interner, diffs: diffs)
            await clients[c.cluster]?.closeConnections()
            return check
        }, then: { c in
            if let error = c.error { unreachable[c.cluster] = error; return }
            findings += c.findings
            unknownLabelled[c.cluster] = c.unknownLabelled
            if !c.listErrors.isEmpty { listErrors[c.cluster] = c.listErrors.joined(separator: "; ") }
        })
        // A LIST that failed (403, 5xx...) found nothing, which is not "no orphans": the cluster was not fully checked.
        unreachable.merge(listErrors) { a, _ in a }
        let later = recheck()
        let known = stateAddresses.union(inFlight).union(later?.addresses ?? [])
        for (cluster, objects) in unknownLabelled.sorted(by: { $0.key < $1.key }) {
            for o in objects where !known.contains(o.address.description) {
                findings.append(.init(kind: .orphan, address: o.address, cluster: cluster, objectKind: o.kind, fields: []))
            }
        }
        findings.sort { ($0.kind == .orphan ? 1 : 0, $0.address) < ($1.kind == .orphan ? 1 : 0, $1.address) }
        let elapsed = ContinuousClock.now - start
        return DriftReport(mesh: mesh, checkedAt: Date(),
                           durationSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                           findings: findings, configDrift: configDrift, unreachable: unreachable,
                           clusters: clients.keys.sorted(),
                           applyInProgress: snapshot.applyInProgress || later?.runUnfinished == true, objectsChecked: snapshot.objects.count)
    }

    struct ClusterObjects: Sendable { var cluster: String; var objects: [ManagedObject] }
    struct ClusterCheck: Sendable {
        var cluster: String
        var findings: [DriftReport.Finding] = []
        /// Objects with this mesh's labels that the state did not know when it was read: orphans, unless an apply
        /// running beside the check has recorded them since.
        var unknownLabelled: [Labelled] = []
        /// Labelled LISTs that failed: the cluster's orphans were not all looked for.
        var listErrors: [String] = []
        /// Why the cluster could not be read at all.
        var error: String?
    }
    struct KindList: Sendable { var gvk: GroupVersionKind; var items: [JSON]?; var error: String? }

    /// One cluster: one LIST per kind the state manages there, in every namespace, of the objects carrying this mesh's
    /// labels (the server filters; `kubectl get -A -l`), which finds the managed objects and the orphans at once. A
    /// managed object missing from it (its labels removed, or deleted) is then looked for without the label, by
    /// `LiveReader`'s LIST per kind and namespace; so is every object of a kind whose labelled LIST failed.
    private func checkCluster(_ cluster: String, _ objects: [ManagedObject], inFlight: Set<String>,
                              stateAddresses: Set<String>, sharedBodies: [String: JSON], sharing: JSONInterner,
                              diffs: FieldDiff.Memo) async -> ClusterCheck {
        var out = ClusterCheck(cluster: cluster)
        guard let client = clients[cluster] else { out.error = "no connection for cluster \(cluster)"; return out }
        let selector = "\(Compiler.managedByLabel)=\(Compiler.managedByValue),\(Compiler.meshLabel)=\(mesh)"
        let kinds = Set(objects.map { GroupVersionKind(apiVersion: $0.apiVersion, kind: $0.kind) }).sorted { $0.description < $1.description }
        var live: [String: JSON] = [:]
        await forEachConcurrently(kinds, width: reader.parallelism, { gvk in
            do { return KindList(gvk: gvk, items: try await client.list(gvk, namespace: nil, labelSelector: selector, sharing: sharing)) }
            catch { return KindList(gvk: gvk, error: "listing \(gvk.kind) (\(gvk.apiVersion)) to find orphans failed: \(error)") }
        }, then: { list in
            guard let items = list.items else { out.listErrors.append(list.error ?? ""); return }
            for o in items {
                guard let address = try? ResourceAddress(cluster: cluster, object: o) else { continue }
                let text = address.description
                if stateAddresses.contains(text) { live[text] = o } else { out.unknownLabelled.append(Labelled(address: address, kind: o.kind ?? "")) }
            }
        })
        out.listErrors.sort()
        let compared = objects.filter { !inFlight.contains($0.address) }
        let missing = compared.filter { live[$0.address] == nil }
        if !missing.isEmpty {
            do {
                let found = try await reader.readCluster(client, missing.map(LiveTarget.init), sharing: sharing)
                live.merge(found) { a, _ in a }
            } catch {
                out.error = String(describing: error)
                return out
            }
        }
        for o in compared {
            out.findings += finding(o, applied: sharedBodies[o.appliedHash] ?? o.applied, live: live[o.address], diffs: diffs)
        }
        return out
    }

    /// What one state object's live version says: deleted, modified (the fields, with who changed them) or nothing.
    private func finding(_ o: ManagedObject, applied: JSON, live l: JSON?, diffs: FieldDiff.Memo) -> [DriftReport.Finding] {
        guard let address = try? ResourceAddress(parsing: o.address) else { return [] }
        guard let l else { return [.init(kind: .deleted, address: address, cluster: o.cluster, objectKind: o.kind, fields: [])] }
        // Objects no longer in the mesh file keep the built-in rules for istiod's webhook patches.
        let rules = ignoreFields[o.address] ?? (o.kind.hasSuffix("WebhookConfiguration") ? Compiler.webhookIgnoreFields : [])
        let ignore = rules.map(FieldPattern.init)
        let changes = FieldDiff.compare(intended: applied, live: mask(SecretBody.foldingStringData(l)), ignoring: ignore, memo: diffs)
        guard !changes.isEmpty else { return [] }
        let fields = changes.map {
            DriftReport.DriftedField(path: $0.path, applied: $0.after, live: $0.before,
                                     manager: ManagedFields.owner(of: $0.path, in: l, except: ManagedFields.meshform))
        }
        return [.init(kind: .modified, address: address, cluster: o.cluster, objectKind: o.kind, fields: fields)]
    }

    /// An object found by the labelled LISTs: only its address and kind are kept.
    struct Labelled: Sendable { var address: ResourceAddress; var kind: String }
}
