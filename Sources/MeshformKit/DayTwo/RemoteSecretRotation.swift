import Foundation
import KubeClient
import KubeModel
import StateStore

/// `meshform rotate remote-secrets`: new credentials for istiod on the data-plane clusters, without a moment in
/// which istiod holds none that work.
///
/// The remote secret's token is a Secret-based ServiceAccount token, valid exactly as long as its Secret exists
/// (kubernetes/kubernetes pkg/serviceaccount/legacy.go looks the Secret up on every request). So a rotation is a
/// create-before-destroy, in this order:
/// 1. a new token Secret beside the old one (`<sa>-istio-remote-secret-token-<UTC stamp>`), waited for until the token
///    controller has filled it; the remote secret on the external cluster rewritten with a kubeconfig holding it
///    (one ordinary apply run, rolled back if a step fails);
/// 2. istiod restarted (`kubectl rollout restart`) and waited for: istiod may keep using the credentials it read at
///    start (istio/istio#60612, open for current releases), so every version is restarted;
/// 3. the new remote secret checked as `meshform verify` does (it decodes to a kubeconfig whose credentials
///    authenticate, may list what istiod reads, and reach the right cluster);
/// 4. only then the old token Secret deleted (a second apply run), which revokes the old token.
/// If a step after 1 fails, the old token still works and nothing is deleted; the next `meshform apply` (or the
/// next rotation) finishes the job, since the state names the newest token Secret.
public enum RemoteSecretRotation {
    /// Names the compiled token Secrets as the state has them: after a rotation the newest
    /// `<sa>-istio-remote-secret-token-<stamp>` the state records, so a plan after a rotation changes nothing, and
    /// one after an interrupted rotation deletes the older token Secret.
    static func aligned(_ mesh: CompiledMesh, state: StateSnapshot) -> CompiledMesh {
        var renames: [ResourceAddress: ResourceAddress] = [:]
        for c in mesh.topology.dataPlaneClusters {
            let rs = RemoteSecret(cluster: c, topology: mesh.topology)
            let names = state.objects.filter {
                $0.cluster == c.name && $0.kind == "Secret" && $0.namespace == rs.namespace
                    && ($0.name == rs.tokenSecretName || $0.name.hasPrefix(rs.tokenSecretName + "-"))
            }.map(\.name).sorted()
            if let newest = names.last, newest != rs.tokenSecretName {
                renames[rs.tokenAddress] = ResourceAddress(cluster: c.name, group: "core", kind: "Secret", namespace: rs.namespace, name: newest)
            }
        }
        return renaming(mesh, renames)
    }

    /// The mesh with resources moved to new addresses (same cluster, kind and namespace; a new name), with every
    /// dependency and computed value that named them.
    static func renaming(_ mesh: CompiledMesh, _ renames: [ResourceAddress: ResourceAddress]) -> CompiledMesh {
        guard !renames.isEmpty else { return mesh }
        let resources = mesh.resources.map { r0 -> Resource in
            var r = r0
            if let to = renames[r.address] {
                r.address = to
                r.body[path: ["metadata", "name"]] = .string(to.name)
            }
            r.dependsOn = Set(r.dependsOn.map { renames[$0] ?? $0 })
            r.computed = r.computed.map { cv in
                var cv = cv
                if let to = renames[cv.producer] { cv.producer = to }
                return cv
            }
            return r
        }
        return CompiledMesh(topology: mesh.topology, resources: resources, configHash: mesh.configHash,
                            components: mesh.components, graph: ResourceGraph(resources: resources))
    }

    /// The rotation's mesh: the token Secrets of `clusters` under a new name.
    static func rotating(_ mesh: CompiledMesh, clusters: [ClusterSpec], stamp: String) -> CompiledMesh {
        var renames: [ResourceAddress: ResourceAddress] = [:]
        for c in clusters {
            let rs = RemoteSecret(cluster: c, topology: mesh.topology)
            guard let current = mesh.resources.first(where: {
                $0.address.cluster == c.name && $0.address.kind == "Secret" && $0.address.namespace == rs.namespace
                    && ($0.address.name == rs.tokenSecretName || $0.address.name.hasPrefix(rs.tokenSecretName + "-"))
            }) else { continue }
            renames[current.address] = ResourceAddress(cluster: c.name, group: "core", kind: "Secret", namespace: rs.namespace,
                                                       name: "\(rs.tokenSecretName)-\(stamp)")
        }
        return renaming(mesh, renames)
    }

    /// `yyyymmddhhmmss` in UTC: token Secret names sort by age.
    static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC"); f.dateFormat = "yyyyMMddHHmmss"
        return f.string(from: date)
    }
}

/// What `meshform rotate remote-secrets` will do, shown before it asks.
public struct RotationPlan: Sendable {
    /// The ordinary plan of the new credentials: new token Secrets, rewritten remote secrets, old token Secrets deleted.
    public var plan: Plan
    public var clusters: [String]
    /// The istiod Deployment restarted between the two runs.
    public var istiod: String

    public var text: String {
        let created = plan.changes.filter { $0.action == .create }.map(\.address)
        let updated = plan.changes.filter { $0.action == .update }.map(\.address)
        let deleted = plan.changes.filter { $0.action == .delete }.map(\.address)
        var out = "Rotation of the remote secrets of \(clusters.joined(separator: ", ")), in this order:\n"
        out += "  1. create the new token Secrets and wait for their tokens:\n" + created.map { "       + \($0)\n" }.joined()
        out += "     rewrite the remote secrets with them:\n" + updated.map { "       ~ \($0)\n" }.joined()
        out += "  2. restart \(istiod) and wait for its rollout (istiod may ignore a rewritten remote secret until it restarts: istio/istio#60612)\n"
        out += "  3. check each new remote secret: it decodes to a kubeconfig whose credentials authenticate and may read what istiod reads\n"
        out += "  4. delete the old token Secrets (their tokens stop working):\n" + deleted.map { "       - \($0)\n" }.joined()
        return out
    }

    public var json: JSON {
        ["operation": "rotate-remote-secrets", "clusters": .array(clusters.map(JSON.string)), "restart": .string(istiod),
         "plan": PlanJSON.value(plan)]
    }
}

public enum RotationError: Error, CustomStringConvertible {
    case unknownCluster(String, known: [String])
    case upgradeInProgress(phase: Int)
    case nothingApplied
    case stepFailed(step: String, why: String)

    public var description: String {
        switch self {
        case .unknownCluster(let c, let known):
            return "--cluster \(c): no data-plane cluster of the mesh has this name (they are \(known.joined(separator: ", "))); nothing was changed."
        case .upgradeInProgress(let phase):
            return "a canary upgrade is in progress (phase \(phase) is next): finish it first (meshform apply, apply -finalize); nothing was changed."
        case .nothingApplied:
            return "the mesh has not been applied (no remote secret in state): run meshform apply first; nothing was changed."
        case .stepFailed(let step, let why):
            return "the rotation stopped at \(step): \(why)"
        }
    }
}

extension MeshSession {
    /// The rotation of the remote secrets of `cluster` (nil: every data-plane cluster), as a plan, and the session
    /// that runs it. Reads the clusters; writes nothing.
    public func rotationPlan(cluster: String?, at date: Date = Date()) async throws -> (RotationPlan, MeshSession) {
        if let upgrade = try dayTwoView().upgrade { throw RotationError.upgradeInProgress(phase: upgrade.phase) }
        let t = mesh.topology
        let all = t.dataPlaneClusters
        let chosen = try cluster.map { name in
            guard let c = all.first(where: { $0.name == name }) else { throw RotationError.unknownCluster(name, known: all.map(\.name)) }
            return [c]
        } ?? all
        let rotation = MeshSession(self, mesh: RemoteSecretRotation.rotating(mesh, clusters: chosen, stamp: RemoteSecretRotation.stamp(date)))
        var (plan, _) = try await rotation.plan(PlanOptions())
        guard plan.changes.contains(where: { $0.action == .delete }) else { throw RotationError.nothingApplied }
        for i in plan.changes.indices where plan.changes[i].action == .delete && plan.changes[i].reason == "no longer in the mesh file" {
            plan.changes[i].reason = "the old token: deleted last, once the new remote secret works"
        }
        return (RotationPlan(plan: plan, clusters: chosen.map(\.name), istiod: "\(t.externalCluster.name)/\(t.controlPlane.namespace)/\(IstioRevision(t).istiodName)"),
                rotation)
    }

    /// A rotation's first step: its plan without the deletions (the old credentials go last), applied exactly as planned.
    func applyWithoutDeletions(_ plan: Plan, request: ApplyRequest, emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> ApplyResult {
        var request = request
        request.saved = plan
        request.saved!.changes = plan.changes.filter { $0.action != .delete }
        return try await apply(request, confirm: { _ in true }, emit: emit).1
    }

    /// Runs a rotation planned by `rotationPlan` on its session (see `RemoteSecretRotation` for the order).
    public func rotate(_ rotation: RotationPlan, request base: ApplyRequest,
                       emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> ApplyResult {
        // 1. New tokens and remote secrets: the plan without its deletions, applied exactly.
        let created = try await applyWithoutDeletions(rotation.plan, request: base, emit: emit)
        guard case .succeeded = created else { return created }

        let t = mesh.topology
        let clusters = try Clusters(topology: t, environment: environment, options: clientOptions)
        do {
            // 2. istiod restarted, so it reads the new secrets.
            let istiod = StaleWorkload(cluster: t.externalCluster.name, namespace: t.controlPlane.namespace,
                                       deployment: IstioRevision(t).istiodName, pods: 0, revisions: [])
            do {
                try await WorkloadRestarts.restart([istiod], batch: 1, clients: clusters.clients, timeout: base.apply.readinessTimeout, emit: emit)
            } catch {
                throw RotationError.stepFailed(step: "the restart of istiod", why: "\(error). The new remote secrets are in place and the old tokens still work; run the rotation again")
            }
            // 3. The new secrets work.
            let verifier = Verifier(mesh: mesh, clients: clusters.clients, endpoints: clusters.endpoints)
            for name in rotation.clusters {
                guard let c = t.cluster(named: name) else { continue }
                let failed = await verifier.remoteSecret(for: c).filter { $0.status == .failed }
                if !failed.isEmpty {
                    throw RotationError.stepFailed(step: "the check of the new remote secret of \(name)",
                                                   why: failed.map(\.detail).joined(separator: "; ") + ". The old token Secrets were kept")
                }
                emit(.note("\(name): the new remote secret authenticates and may read what istiod reads"))
            }
            await clusters.shutdown()
        } catch {
            await clusters.shutdown()
            throw error
        }
        // 4. The old token Secrets: planned again (the state moved), only deletions left.
        var second = base
        second.saved = nil
        let (_, deleted) = try await apply(second, confirm: { _ in true }, emit: emit)
        return deleted
    }
}
