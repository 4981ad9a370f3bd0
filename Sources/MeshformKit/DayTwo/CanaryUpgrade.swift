import Crypto
import Foundation
import KubeModel
import StateStore

/// Where a canary upgrade of the external control plane stands, and what the plan in hand does about it.
/// Shown above the plan's actions and in its JSON (`upgrade`), and saved with the plan.
public struct UpgradeStatus: Codable, Sendable, Equatable {
    /// The applied revision and the mesh file's.
    public var fromRevision: String
    public var toRevision: String
    public var toVersion: String
    /// The phase this plan runs: 1 (install the new revision beside the old), 2 (move the default revision tag and
    /// the gateway's routes to it), 3 (remove the old revision).
    public var phase: Int
    /// False when the plan runs nothing because phase 3 waits for `meshform apply -finalize`.
    public var runs: Bool
    /// Why this phase is the next one.
    public var reason: String
    /// What comes after this plan.
    public var next: String
    /// The Deployments whose pods still run the proxy of another revision (nil: pods were not read, as with
    /// `--refresh=false`). Restarted only by `meshform apply -restart-workloads`.
    public var staleWorkloads: [StaleWorkload]? = nil

    public static let phaseTitles = [1: "install revision beside the old one", 2: "move the default revision tag",
                                     3: "remove the old revision"]

    /// The lines printed above the plan.
    public var text: String {
        var out = "Canary upgrade of the control plane: revision \(fromRevision) -> \(toRevision) (Istio \(toVersion)).\n"
        out += runs ? "This plan runs phase \(phase) of 3 (\(Self.phaseTitles[phase]!)): \(reason)\n"
                    : "Phase \(phase) of 3 (\(Self.phaseTitles[phase]!)) is next: \(reason)\n"
        out += "Next: \(next)\n"
        if let stale = staleWorkloads {
            out += stale.isEmpty ? "No workload runs the proxy of another revision.\n"
                : "Workloads still running the proxy of another revision (restarted only by `meshform apply -restart-workloads`, after phase 2):\n"
                    + stale.map { "  \($0)\n" }.joined()
        }
        return out
    }

    public var json: JSON {
        ["from_revision": .string(fromRevision), "to_revision": .string(toRevision), "to_version": .string(toVersion),
         "phase": .int(phase), "runs": .bool(runs), "reason": .string(reason), "next": .string(next),
         "stale_workloads": staleWorkloads.map { list in .array(list.map { w in
             ["cluster": .string(w.cluster), "namespace": .string(w.namespace), "deployment": .string(w.deployment),
              "pods": .int(w.pods), "revisions": .array(w.revisions.map(JSON.string))] }) } ?? .null]
    }
}

/// A change of `istio.version` on an applied mesh, planned as Istio's canary upgrade
/// (https://istio.io/latest/docs/setup/upgrade/canary/) across the external control plane's clusters, in three
/// phases, one per apply, each an ordinary plan that rolls back on failure:
///
/// 1. the new revision is installed beside the old one: its istiod, Service, ConfigMaps and RBAC on the external
///    cluster, its DestinationRule and webhook route on the control-plane gateway, its injection webhook (for
///    namespaces labelled `istio.io/rev=REV`) on every data-plane cluster. Nothing the old revision uses changes.
/// 2. the default revision tag moves: each data-plane cluster's default injection webhook (namespaces labelled
///    `istio-injection=enabled`) and the gateway's xDS and webhook routes now lead to the new istiod, together with
///    every other change the new version makes to objects both revisions share. The old revision stays running.
/// 3. only after `meshform apply -finalize` (or with `lifecycle.upgrade: auto`): the old revision's objects are
///    deleted.
///
/// The phase is read from the state: no istiod of the new revision applied -> 1; the default tag still on the old
/// revision -> 2; otherwise 3. Each phase is a mesh of its own (`mesh`) that the planner, the executor and saved
/// plans use as they use any compiled mesh, so a failed phase rolls back exactly as a failed apply does.
public enum CanaryUpgrade {
    /// The mesh the next apply works towards, and the upgrade it belongs to (nil: no upgrade in progress).
    public static func phase(of final: CompiledMesh, state: StateSnapshot?, finalize: Bool) throws -> (CompiledMesh, UpgradeStatus?) {
        let t = final.topology
        guard let state else { return (final, nil) }
        let ext = t.externalCluster.name, ns = t.controlPlane.namespace
        let to = IstioRevision(t)
        let istiodAddress = ResourceAddress(cluster: ext, group: "apps", kind: "Deployment", namespace: ns, name: to.istiodName).description
        let applied = state.objects.filter {
            $0.cluster == ext && $0.kind == "Deployment" && $0.namespace == ns && $0.applied.labels["app"] == "istiod"
        }
        let old = applied.filter { $0.address != istiodAddress }
        guard let previous = old.first else {
            // Same revision: a version change here would replace istiod in place, which is what a canary avoids. The
            // versions compared are the images of the istiod applied and of the istiod rendered now (the renderer's
            // output, not `istio.version`): a mesh file's version is what it asks for, the image is what runs.
            let rendered = final.resources.first { $0.address.description == istiodAddress }.flatMap { imageVersion($0.body) }
            if let current = applied.first, let was = imageVersion(current.applied), let now = rendered ?? IstioVersion(t.istio.version), was != now {
                throw UpgradeError.sameRevision(revision: to.name, from: was.description, to: now.description)
            }
            return (final, nil)
        }
        let from = IstioRevision.of(previous.applied) ?? IstioRevision(nil)
        if t.controlPlane.address.isIPAddress { throw UpgradeError.ipAddressVariant(from: from.name, to: to.name) }
        if old.count > 1 { throw UpgradeError.severalRevisions(old.map(\.name).sorted()) }

        let byAddress = Dictionary(state.objects.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var status = UpgradeStatus(fromRevision: from.name, toRevision: to.name, toVersion: t.istio.version, phase: 1,
                                   runs: true, reason: "", next: "")
        if byAddress[istiodAddress] == nil {
            status.reason = "istiod of revision \(to.name) is not installed yet; revision \(from.name) keeps serving every namespace."
            status.next = "run `meshform apply`; after it, phase 2 (move the default revision tag to \(to.name)) is planned."
            return (try mesh(final, phase: 1, state: state, from: from), status)
        }
        let tags = final.resources.filter { $0.address.kind == "MutatingWebhookConfiguration" && $0.body.labels["istio.io/tag"] == "default" }
        let moved = tags.allSatisfy { byAddress[$0.address.description]?.applied.labels["istio.io/rev"] == to.name }
        if !moved {
            status.phase = 2
            status.reason = "revision \(to.name) is installed beside \(from.name); the default revision tag still selects \(from.name)."
            status.next = "run `meshform apply`: the checks run first (istiod \(to.name) available, remote secrets authenticate); "
                + "then restart the workloads listed as running the old proxy, and phase 3 removes revision \(from.name)."
            return (try mesh(final, phase: 2, state: state, from: from), status)
        }
        status.phase = 3
        status.reason = "the default revision tag selects \(to.name); revision \(from.name) is still installed."
        if finalize || t.lifecycle.upgrade == .auto {
            status.next = "the upgrade is complete once this plan is applied."
            return (try mesh(final, phase: 3, state: state, from: from), status)
        }
        status.runs = false
        status.reason += " It is removed only when you say so (lifecycle.upgrade is manual)."
        status.next = "once the workloads run the new proxy, run `meshform apply -finalize` to remove revision \(from.name)."
        return (try mesh(final, phase: 2, state: state, from: from), status)
    }

    /// The desired objects of one phase. Phase 3 is the mesh file's own; phases 1 and 2 keep every applied object of
    /// the old revision, and phase 1 also keeps every object both revisions share as it was applied, with one
    /// exception: the gateway's VirtualService gains the new revision's webhook route.
    static func mesh(_ final: CompiledMesh, phase: Int, state: StateSnapshot, from: IstioRevision) throws -> CompiledMesh {
        guard phase < 3 else { return final }
        let t = final.topology
        let to = IstioRevision(t), ns = t.controlPlane.namespace
        let byAddress = Dictionary(state.objects.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var resources: [Resource] = []
        for var r in final.resources {
            let isRouting = r.address.kind == "VirtualService" && r.address.name == RevisionGlue.virtualServiceName
                && r.address.cluster == t.externalCluster.name
            if let applied = byAddress[r.address.description]?.applied {
                if phase == 1, !r.sensitive {
                    // Unchanged until the switch: the body as applied (its computed values already resolved).
                    r.body = isRouting ? RevisionGlue.addingRoute(to, namespace: ns, to: applied) : applied
                    r.computed = []
                } else if phase == 2, isRouting {
                    // The old revision's own webhook route stays until the old revision is gone.
                    var vs = r.body
                    for route in RevisionGlue.revisionRoutes(in: applied) where route["name"]?.string != RevisionGlue.routeNamePrefix + to.name {
                        var http = vs[path: ["spec", "http"]]?.array ?? []
                        http.insert(route, at: min(1, http.count))
                        vs[path: ["spec", "http"]] = .array(http)
                    }
                    r.body = vs
                }
            }
            resources.append(r)
        }
        // The old revision's objects, kept as they were applied.
        let desired = Set(final.resources.map { $0.address.description })
        for o in state.objects where !desired.contains(o.address) {
            resources.append(Resource(address: try ResourceAddress(parsing: o.address), body: o.applied,
                                      sensitive: o.sensitive, component: "revision \(from.name) (kept until phase 3)"))
        }
        var h = SHA256()
        h.update(data: Data("\(final.configHash) canary phase \(phase) from \(from.name)".utf8))
        let hash = Hex.encode(h.finalize())
        return CompiledMesh(topology: t, resources: resources, configHash: hash, components: final.components,
                            graph: ResourceGraph(resources: resources))
    }

    /// The Istio release of an applied istiod Deployment, from its image tag (`docker.io/istio/pilot:1.24.0`,
    /// `...:1.24.0-distroless`), as `istioctl version` reports the control plane's.
    static func imageVersion(_ deployment: JSON) -> IstioVersion? {
        let containers = deployment[path: ["spec", "template", "spec", "containers"]]?.array ?? []
        for c in containers {
            guard let image = c["image"]?.string, let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") else { continue }
            if let v = IstioVersion(String(image[image.index(after: colon)...])) { return v }
        }
        return nil
    }
}

public enum UpgradeError: Error, CustomStringConvertible, Equatable {
    case sameRevision(revision: String, from: String, to: String)
    case ipAddressVariant(from: String, to: String)
    case severalRevisions([String])
    case checksFailed([String])
    case restartBeforeSwitch(next: Int)

    public var description: String {
        switch self {
        case .sameRevision(let rev, let from, let to):
            return "istio.version changed from \(from) to \(to), but istio.revision is still '\(rev)': that would replace istiod "
                + "in place. Set istio.revision to a new name (e.g. \(to.replacingOccurrences(of: ".", with: "-"))) to plan a canary "
                + "upgrade (docs/day2.md), or put istio.version back to \(from). Nothing was changed."
        case .ipAddressVariant(let from, let to):
            return "a canary upgrade from revision \(from) to \(to) needs the control-plane address to be a hostname: in the "
                + "IP-address variant the gateway passes TLS through, so it cannot route the two revisions' webhooks apart. "
                + "Nothing was changed."
        case .severalRevisions(let names):
            return "the state holds more than one old istiod (\(names.joined(separator: ", "))): finish the earlier upgrade "
                + "first (`meshform apply -finalize` with its mesh file). Nothing was changed."
        case .restartBeforeSwitch(let next):
            return "workloads are restarted only once the default revision tag selects the new revision, and phase \(next) of the "
                + "upgrade is next: restarted now, they would get the old proxy again. Run `meshform apply` first. Nothing was changed."
        case .checksFailed(let lines):
            return "the checks between upgrade phases failed, so the next phase was not started; nothing was changed:\n"
                + lines.map { "  - \($0)" }.joined(separator: "\n")
        }
    }
}
