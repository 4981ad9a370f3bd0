import Foundation
import Synchronization
import KubeClient
import KubeModel
import KubeSim
import StateStore
import Testing
@testable import MeshformKit

extension EndToEnd {
/// A canary upgrade of the external control plane from Istio 1.24.0 (the unrevisioned install of plans/demo) to
/// 1.25.0 (revision 1-25-0, the stand-ins of plans/demo/1.25.0) on three KubeSim clusters, phase by phase, each
/// phase an apply of the same edited mesh file.
@Suite struct UpgradeEndToEndTests {
    static let ns = "external-istiod"
    static let tagWebhook = "istio-sidecar-injector-\(ns)"
    static let revisionWebhook = "istio-sidecar-injector-1-25-0-\(ns)"
    static let mwc = GroupVersionKind(apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration")
    static let deployment = GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment")
    static let virtualService = GroupVersionKind(apiVersion: "networking.istio.io/v1beta1", kind: "VirtualService")

    /// The mesh file's edit a user makes: the next version, its revision, its rendering.
    static func upgraded(_ text: String) -> String {
        text.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.25.0\n  revision: 1-25-0\n")
            .replacingOccurrences(of: "  manifests: demo\n", with: "  manifests: demo/1.25.0\n")
    }

    /// Runs `body` with a harness where the 1.24.0 mesh is applied and the path of the upgraded mesh file; stops the harness afterwards.
    static func withApplied<T>(_ body: (MeshHarness, String) async throws -> T) async throws -> T {
        try await MeshHarness.with { h in
            let (_, first) = try await ApplyEndToEndTests.apply(try await h.session(try h.multiRemote()))
            guard case .succeeded = first else { throw Failure("first apply: \(first)") }
            return try await body(h, try h.multiRemote([upgraded]))
        }
    }

    struct Failure: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

    static func session(_ h: MeshHarness, _ file: String, finalize: Bool = false) async throws -> MeshSession {
        try await MeshSession(meshFile: file, statePath: h.statePath, environment: h.environment, finalize: finalize)
    }

    /// Applies the next phase and checks it is `phase` and succeeded.
    static func applyPhase(_ h: MeshHarness, _ file: String, _ phase: Int, finalize: Bool = false) async throws -> Plan {
        let s = try await session(h, file, finalize: finalize)
        #expect(s.upgrade?.phase == phase && s.upgrade?.runs == true, "expected phase \(phase) to run: \(String(describing: s.upgrade))")
        let (plan, result) = try await ApplyEndToEndTests.apply(s)
        guard case .succeeded = result else { throw Failure("phase \(phase): \(result)") }
        #expect(plan.upgrade?.phase == phase)
        return plan
    }

    static func webhookURLs(_ o: JSON?) -> [String] { (o?["webhooks"]?.array ?? []).compactMap { $0[path: ["clientConfig", "url"]]?.string } }
    static func routeHosts(_ vs: JSON?) -> [String: String] {
        var out: [String: String] = [:]
        for (i, r) in (vs?[path: ["spec", "http"]]?.array ?? []).enumerated() {
            out[r["name"]?.string ?? "#\(i)"] = r["route"]?.array?.first?[path: ["destination", "host"]]?.string
        }
        return out
    }

    @Test func phaseOneInstallsTheNewRevisionBesideTheOld() async throws {
        try await Self.withApplied { h, file in
            let before = try await h.withClient("config") { try await $0.get(Self.mwc, namespace: nil, name: Self.tagWebhook) }
            let plan = try await Self.applyPhase(h, file, 1)
            // Phase 1 only creates: nothing the old revision uses is changed or removed, except the gateway's route added.
            let changed = plan.changes.filter { $0.action.changes }
            #expect(changed.allSatisfy { $0.action == .create || $0.address.description.hasSuffix("/VirtualService/\(Self.ns)/external-istiod-vs") },
                    "\(changed.filter { $0.action != .create }.map(\.address.description))")
            #expect(!changed.contains { $0.action == .delete })

            try await h.withClient("external") { c in
                #expect(try await c.get(Self.deployment, namespace: Self.ns, name: "istiod") != nil)
                let new = try await c.get(Self.deployment, namespace: Self.ns, name: "istiod-1-25-0")
                #expect(new?.labels["istio.io/rev"] == "1-25-0")
                #expect(new?[path: ["spec", "template", "spec", "containers"]]?.array?.first?["image"]?.string == "docker.io/istio/pilot:1.25.0")
                #expect(try await c.get(GroupVersionKind(apiVersion: "v1", kind: "Service"), namespace: Self.ns, name: "istiod-1-25-0") != nil)
                let hosts = Self.routeHosts(try await c.get(Self.virtualService, namespace: Self.ns, name: "external-istiod-vs"))
                #expect(hosts["rev-1-25-0"] == "istiod-1-25-0.\(Self.ns).svc.cluster.local")
                #expect(hosts["#1"] == "istiod.\(Self.ns).svc.cluster.local", "the default route stays on the old revision: \(hosts)")
            }
            for cluster in ["config", "remote2"] {
                try await h.withClient(cluster) { c in
                    let rev = try await c.get(Self.mwc, namespace: nil, name: Self.revisionWebhook)
                    #expect(Self.webhookURLs(rev).allSatisfy { $0.contains(":15017/rev/1-25-0/inject/") }, "\(cluster): \(Self.webhookURLs(rev))")
                    let tag = try await c.get(Self.mwc, namespace: nil, name: Self.tagWebhook)
                    #expect(tag?.labels["istio.io/rev"] == "default", "\(cluster): the default tag must not move in phase 1")
                }
            }
            let after = try await h.withClient("config") { try await $0.get(Self.mwc, namespace: nil, name: Self.tagWebhook) }
            #expect(after?.resourceVersion == before?.resourceVersion, "the default webhook was written in phase 1")

            // What comes next is phase 2, and the plan says so.
            let next = try await Self.session(h, file)
            #expect(next.upgrade?.phase == 2)
            let (p2, _) = try await next.plan(PlanOptions())
            let text = PlanText(color: false).render(p2)
            if ProcessInfo.processInfo.environment["MESHFORM_PRINT_EXAMPLES"] != nil { print(text) }  // docs/day2.md's example
            #expect(text.contains("This plan runs phase 2 of 3 (move the default revision tag)"))
            #expect(PlanJSON.value(p2)["upgrade"]?["phase"]?.int == 2)
        }
    }

    @Test func phaseTwoMovesTheDefaultTagAndPhaseThreeWaitsForFinalize() async throws {
        try await Self.withApplied { h, file in
            _ = try await Self.applyPhase(h, file, 1)
            let plan = try await Self.applyPhase(h, file, 2)
            #expect(!plan.changes.contains { $0.action == .delete }, "phase 2 removes nothing")

            for cluster in ["config", "remote2"] {
                try await h.withClient(cluster) { c in
                    let tag = try await c.get(Self.mwc, namespace: nil, name: Self.tagWebhook)
                    #expect(tag?.labels["istio.io/rev"] == "1-25-0" && tag?.labels["istio.io/tag"] == "default", "\(cluster)")
                    #expect(!Self.webhookURLs(tag).isEmpty && Self.webhookURLs(tag).allSatisfy { !$0.contains("/rev/") }, "\(Self.webhookURLs(tag))")
                    // Istio's revision-tags template for `default`: the `namespace.` hook selects istio-injection=enabled.
                    let hook = tag?["webhooks"]?.array?.first { $0["name"] == "namespace.sidecar-injector.istio.io" }
                    #expect(hook?[path: ["namespaceSelector", "matchExpressions"]]?.array?.first?["key"]?.string == "istio-injection")
                }
            }
            try await h.withClient("external") { c in
                #expect(try await c.get(Self.deployment, namespace: Self.ns, name: "istiod") != nil, "the old revision stays until phase 3")
                let hosts = Self.routeHosts(try await c.get(Self.virtualService, namespace: Self.ns, name: "external-istiod-vs"))
                #expect(Set(hosts.values) == ["istiod-1-25-0.\(Self.ns).svc.cluster.local"], "\(hosts)")
            }

            // Without -finalize, phase 3 is next but does not run: no changes, and the plan says why.
            let waiting = try await Self.session(h, file)
            #expect(waiting.upgrade?.phase == 3 && waiting.upgrade?.runs == false)
            let (p3, _) = try await waiting.plan(PlanOptions())
            #expect(!p3.hasChanges)
            #expect(PlanText(color: false).render(p3).contains("meshform apply -finalize"))
        }
    }

    @Test func phaseThreeAfterFinalizeRemovesTheOldRevision() async throws {
        try await Self.withApplied { h, file in
            _ = try await Self.applyPhase(h, file, 1)
            _ = try await Self.applyPhase(h, file, 2)
            let plan = try await Self.applyPhase(h, file, 3, finalize: true)
            let deleted = Set(plan.changes.filter { $0.action == .delete }.map(\.address.description))
            #expect(deleted.contains("external/apps/Deployment/\(Self.ns)/istiod"))
            #expect(!plan.changes.contains { $0.action == .create }, "phase 3 only removes")

            try await h.withClient("external") { c in
                let old = try await c.get(Self.deployment, namespace: Self.ns, name: "istiod")
                let new = try await c.get(Self.deployment, namespace: Self.ns, name: "istiod-1-25-0")
                #expect(old == nil && new != nil)
            }
            try await h.withClient("config") { c in
                let validator = try await c.get(GroupVersionKind(apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration"),
                                                namespace: nil, name: "istio-validator-\(Self.ns)")
                let tag = try await c.get(Self.mwc, namespace: nil, name: Self.tagWebhook)
                #expect(validator == nil && tag?.labels["istio.io/rev"] == "1-25-0")
            }
            // Done: no upgrade in progress, nothing to do.
            let done = try await Self.session(h, file)
            #expect(done.upgrade == nil)
            let (p, _) = try await done.plan(PlanOptions())
            #expect(!p.hasChanges, "\(p.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address)" })")
        }
    }

    /// A write failing in phase 2 (one remote's default tag) rolls the whole phase back: every webhook, tag and route
    /// on every cluster as after phase 1, and phase 2 is still next.
    /// Phase 2 with remote2's default tag refusing the write (KubeSim's injected fault, lifted afterwards): the apply
    /// must roll back, naming that webhook. Whether it did (a failure is recorded here).
    static func applyPhaseTwoRefusedByRemote2sTag(_ h: MeshHarness, _ file: String) async throws -> Bool {
        var f = FaultSettings()
        f.failWrites = ["MutatingWebhookConfiguration//\(tagWebhook)"]
        h.sims["remote2"]!.setFaults(f)
        let s = try await session(h, file)
        #expect(s.upgrade?.phase == 2)
        let (_, result) = try await ApplyEndToEndTests.apply(s)
        h.sims["remote2"]!.setFaults(FaultSettings())
        guard case .rolledBack(let failed, _) = result else { Issue.record("expected a rollback, got \(result)"); return false }
        #expect(failed == "remote2/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/\(tagWebhook)")
        return true
    }

    @Test func aFailureInPhaseTwoRollsBackToTheOldRevision() async throws {
        try await Self.withApplied { h, file in
            _ = try await Self.applyPhase(h, file, 1)
            var snapshots: [String: [String: JSON]] = [:]
            for c in h.sims.keys { snapshots[c] = try await h.snapshot(c) }

            guard try await Self.applyPhaseTwoRefusedByRemote2sTag(h, file) else { return }

            for c in h.sims.keys {
                let now = try await h.snapshot(c)
                #expect(Set(now.keys) == Set(snapshots[c]!.keys), "\(c): \(Set(now.keys).symmetricDifference(Set(snapshots[c]!.keys)))")
                for (k, v) in snapshots[c]! where now[k] != v { Issue.record("\(c) \(k) differs after the rollback") }
            }
            try await h.withClient("config") { c in
                let tag = try await c.get(Self.mwc, namespace: nil, name: Self.tagWebhook)
                #expect(tag?.labels["istio.io/rev"] == "default")
            }
            #expect(try await Self.session(h, file).upgrade?.phase == 2, "after the rollback, phase 2 is still next")
        }
    }

    /// The between-phase checks stop phase 2 when the new istiod is not there, before anything is written.
    @Test func phaseTwoIsRefusedWhileTheNewIstiodIsMissing() async throws {
        try await Self.withApplied { h, file in
            _ = try await Self.applyPhase(h, file, 1)
            // Someone deletes the new istiod behind Meshform's back.
            try await h.withClient("external") { c in
                _ = try await c.delete(Self.deployment, namespace: Self.ns, name: "istiod-1-25-0", propagation: "Background",
                                       waitUntilGone: .seconds(30))
            }
            let before = try await h.snapshot("config")
            await #expect { _ = try await ApplyEndToEndTests.apply(try await Self.session(h, file)) }
                throws: { if case UpgradeError.checksFailed = $0 { true } else { false } }
            #expect(try await h.snapshot("config") == before)
        }
    }
}
}

extension EndToEnd {
/// Workloads on the old proxy are listed in the plan and restarted only by `apply -restart-workloads`, in bounded
/// batches per cluster, each waited for. KubeSim runs pods (`runPods`) but calls no injection webhook, so the test
/// marks the pods as the old revision's injector would (its `istio.io/rev` annotation).
@Suite struct WorkloadRestartEndToEndTests {
    typealias U = UpgradeEndToEndTests
    static let pod = GroupVersionKind(apiVersion: "v1", kind: "Pod")

    /// Annotates every pod of `namespace` on `cluster` as injected by `revision`; returns their names.
    static func inject(_ h: MeshHarness, _ cluster: String, namespace: String, revision: String) async throws -> Set<String> {
        try await h.withClient(cluster) { c in
            var names = Set<String>()
            for p in try await c.list(Self.pod, namespace: namespace) {
                let name = p.name ?? ""
                _ = try await c.apply(["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": .string(namespace),
                                                                                       "annotations": ["istio.io/rev": .string(revision)]]],
                                      fieldManager: "test-injector", force: true)
                names.insert(name)
            }
            return names
        }
    }

    @Test func theOldProxyIsListedAndRestartedInBatchesOnlyWhenAsked() async throws {
        try await MeshHarness.with(configure: { $0.faults.runPods = true }) { h in
            let (_, first) = try await ApplyEndToEndTests.apply(try await h.session(try h.multiRemote()))
            guard case .succeeded = first else { Issue.record("first apply: \(first)"); return }
            let file = try h.multiRemote([U.upgraded])

            // Before the tag moves, a restart would bring the old proxy back: refused.
            await #expect(throws: UpgradeError.restartBeforeSwitch(next: 1)) {
                _ = try await U.session(h, file).restartWorkloads(batch: 1, timeout: .seconds(30), emit: { _ in })
            }
            _ = try await U.applyPhase(h, file, 1)
            _ = try await U.applyPhase(h, file, 2)

            let oldPods = try await Self.inject(h, "config", namespace: "sample", revision: "default")
            #expect(oldPods.count >= 2, "KubeSim should run helloworld-v1's and sleep's pods: \(oldPods)")
            let session = try await U.session(h, file)
            let (plan, _) = try await session.plan(PlanOptions())
            let stale = plan.upgrade?.staleWorkloads ?? []
            #expect(stale.map { "\($0.cluster)/\($0.namespace)/\($0.deployment)" } == ["config/sample/helloworld-v1", "config/sample/sleep"])
            #expect(stale.allSatisfy { $0.revisions == ["default"] && $0.pods >= 1 })
            #expect(PlanText(color: false).render(plan).contains("config/sample/sleep: 1 pod with the proxy of revision default"))
            // Listing restarts nothing.
            let stillThere: [String] = try await h.withClient("config") { c in try await c.list(Self.pod, namespace: "sample").compactMap { $0.name } }
            #expect(oldPods.isSubset(of: Set(stillThere)))

            let events = EventLog()
            let restarted = try await session.restartWorkloads(batch: 1, timeout: Duration.seconds(30), emit: { events.add($0) })
            #expect(restarted == stale)
            // Batch of one: the second restart starts only after the first rollout is complete.
            let notes = events.notes.filter { $0.hasPrefix("config/") }
            #expect(notes.count == 4 && notes[0].hasSuffix("restarting (rollout restart)...") && notes[1].hasSuffix("rollout complete")
                    && notes[2].hasSuffix("restarting (rollout restart)...") && notes[3].hasSuffix("rollout complete"), "\(notes)")

            try await h.withClient("config") { c in
                for d in ["helloworld-v1", "sleep"] {
                    let live = try await c.get(U.deployment, namespace: "sample", name: d)
                    #expect(live?[path: ["spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]]?.string != nil, "\(d)")
                }
                let now = Set(try await c.list(Self.pod, namespace: "sample").compactMap { $0.name })
                #expect(now.isDisjoint(with: oldPods), "the old pods were replaced: \(now.intersection(oldPods))")
            }
            // The restart annotation is not Meshform's field: no drift, nothing to apply.
            let (after, _) = try await U.session(h, file).plan(PlanOptions())
            #expect(after.upgrade?.staleWorkloads == [])
            #expect(!after.changes.contains { $0.action.changes && $0.address.description.contains("/Deployment/sample/") })
        }
    }
}
}

/// Apply events collected from the executor's (and the restarts') concurrent tasks.
final class EventLog: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ e: ApplyEvent) { if case .note(let s) = e { lines.withLock { $0.append(s) } } }
    var notes: [String] { lines.withLock { $0 } }
}
