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

    public func check(configDrift: Bool?) async -> DriftReport {
        let start = ContinuousClock.now
        let selector = "\(Compiler.managedByLabel)=\(Compiler.managedByValue),\(Compiler.meshLabel)=\(mesh)"
        // Objects an unfinished run is changing are that run's business (its recovery's, if it died), not drift.
        let inFlight = Set(snapshot.unfinishedJournal.compactMap { $0.address?.description })
        let byCluster = Dictionary(grouping: snapshot.objects.filter { !inFlight.contains($0.address) }, by: \.cluster)
        var findings: [DriftReport.Finding] = []
        var unreachable: [String: String] = [:]
        // Each cluster is compared as soon as its LISTs are done, then its live objects are dropped.
        await LiveReader(clients: clients).read(snapshot.objects.map(LiveTarget.init)) { read in
            if let error = read.error { unreachable[read.cluster] = error; return }
            for o in byCluster[read.cluster] ?? [] { findings += finding(o, live: read.objects[o.address]) }
        }
        let (labelled, listErrors) = await labelledObjects(selector: selector, unreachable: unreachable)
        // A LIST that failed (403, 5xx...) found nothing, which is not "no orphans": the cluster was not fully checked.
        unreachable.merge(listErrors) { a, _ in a }
        let later = recheck()
        let known = Set(snapshot.objects.map(\.address)).union(inFlight).union(later?.addresses ?? [])
        for (cluster, objects) in labelled.sorted(by: { $0.key < $1.key }) {
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

    /// What one state object's live version says: deleted, modified (the fields, with who changed them) or nothing.
    private func finding(_ o: ManagedObject, live l: JSON?) -> [DriftReport.Finding] {
        guard let address = try? ResourceAddress(parsing: o.address) else { return [] }
        guard let l else { return [.init(kind: .deleted, address: address, cluster: o.cluster, objectKind: o.kind, fields: [])] }
        // Objects no longer in the mesh file keep the built-in rules for istiod's webhook patches.
        let rules = ignoreFields[o.address] ?? (o.kind.hasSuffix("WebhookConfiguration") ? Compiler.webhookIgnoreFields : [])
        let ignore = rules.map(FieldPattern.init)
        let changes = FieldDiff.compare(intended: o.applied, live: mask(SecretBody.foldingStringData(l)), ignoring: ignore)
        guard !changes.isEmpty else { return [] }
        let fields = changes.map {
            DriftReport.DriftedField(path: $0.path, applied: $0.after, live: $0.before,
                                     manager: ManagedFields.owner(of: $0.path, in: l, except: ManagedFields.meshform))
        }
        return [.init(kind: .modified, address: address, cluster: o.cluster, objectKind: o.kind, fields: fields)]
    }

    /// An object found by the labelled LISTs: only its address and kind are kept.
    struct Labelled: Sendable { var address: ResourceAddress; var kind: String }

    /// Every object carrying this mesh's ownership labels, in every namespace, of each kind the state manages in
    /// that cluster: one labelled LIST per cluster and kind, the server filtering. Orphans are among them.
    /// A LIST that fails is returned as its cluster's error, naming the kind.
    private func labelledObjects(selector: String, unreachable: [String: String]) async -> ([String: [Labelled]], [String: String]) {
        var kinds: [String: Set<GroupVersionKind>] = [:]
        for o in snapshot.objects where unreachable[o.cluster] == nil {
            kinds[o.cluster, default: []].insert(GroupVersionKind(apiVersion: o.apiVersion, kind: o.kind))
        }
        struct ClusterLabelled: Sendable { var cluster: String; var objects: [Labelled]; var errors: [String] }
        return await withTaskGroup(of: ClusterLabelled.self) { group in
            for (cluster, gvks) in kinds {
                guard let client = clients[cluster] else { continue }
                group.addTask {
                    var out = ClusterLabelled(cluster: cluster, objects: [], errors: [])
                    for gvk in gvks.sorted(by: { $0.description < $1.description }) {
                        do {
                            for o in try await client.list(gvk, namespace: nil, labelSelector: selector) {
                                if let address = try? ResourceAddress(cluster: cluster, object: o) {
                                    out.objects.append(Labelled(address: address, kind: o.kind ?? ""))
                                }
                            }
                        } catch { out.errors.append("listing \(gvk.kind) (\(gvk.apiVersion)) to find orphans failed: \(error)") }
                    }
                    return out
                }
            }
            var all: [String: [Labelled]] = [:], errors: [String: String] = [:]
            for await l in group {
                all[l.cluster] = l.objects
                if !l.errors.isEmpty { errors[l.cluster] = l.errors.joined(separator: "; ") }
            }
            return (all, errors)
        }
    }
}
