import Foundation
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// `meshform plan` against live KubeSim clusters: exact, quiet, and safe to save.
extension EndToEnd {
@Suite struct PlanEndToEndTests {
    @Test(arguments: StateKind.allCases) func freshPlanCreatesEverythingInDependencyOrder(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            let (plan, _) = try await session.plan(PlanOptions())
            #expect(plan.stateLineage == nil)
            #expect(plan.changes.allSatisfy { $0.action == .create })
            #expect(plan.changes.count == session.mesh.resources.count)
            // Computed values are shown as known after apply, never as the placeholder.
            let remoteSecret = plan.changes.first { $0.address.description.hasSuffix("/istio-kubeconfig") }
            #expect(remoteSecret?.afterUnknown.isEmpty == false)
            #expect(remoteSecret?.sensitive == true)
            let text = PlanText(color: false).render(plan)
            #expect(text.contains("Plan: \(plan.changes.count) to add, 0 to change, 0 to destroy."))
            #expect(text.contains("# cluster external") && text.contains("# cluster remote2"))
            // Deterministic: the same inputs give the same bytes.
            let (again, _) = try await session.plan(PlanOptions())
            #expect(PlanText(color: false).render(again) == text)
            // Nothing was written: plan takes no lock and creates no state.
            #expect(try !h.stateExists)
        }
    }

    @Test func editsShowExactlyTheManagedFieldsTheyChanged() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            try await h.withClient("external") { external in

                // istiod's own patches to its webhooks, and an edit of a field Meshform does not set: no changes.
                try await IstiodStylePatches.apply(to: h, clusters: ["config", "remote2"])
                _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": ["name": "istiod", "namespace": "external-istiod",
                                                       "annotations": ["someone.example/note": "hello"]]],
                                         fieldManager: "kubectl-edit", force: true)
                let (quiet, _) = try await session.plan(PlanOptions())
                #expect(!quiet.hasChanges, "\(quiet.changes.filter { $0.action.changes }.map { "\($0.address) \($0.fields.map(\.path))" })")

                // An edit of a managed field: an update of exactly that field.
                _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 5]],
                                         fieldManager: "kubectl-edit", force: true)
                let (plan, _) = try await session.plan(PlanOptions())
                let changed = plan.changes.filter { $0.action.changes }
                #expect(changed.count == 1)
                #expect(changed.first?.action == .update)
                #expect(changed.first?.address.description == "external/apps/Deployment/external-istiod/istiod")
                #expect(changed.first?.fields.map(\.path) == [".spec.replicas"])
                #expect(changed.first?.fields.first?.before == 5)

                // JSON: the documented shape.
                let json = try JSON(data: PlanJSON.encode(plan))
                #expect(json["format_version"] == 1)
                #expect(json[path: ["summary", "change"]] == 1)
                let rc = json["resource_changes"]?.array?.first { $0["action"] == "update" }
                #expect(rc?[path: ["change", "fields"]]?[0]?["path"] == ".spec.replicas")
                for c in json["resource_changes"]?.array ?? [] {
                    for key in ["address", "cluster", "action", "sensitive", "change"] { #expect(c[key] != nil, "missing \(key)") }
                }
            }
        }
    }

    @Test func aRemovedWorkloadIsPlannedAsDelete() async throws {
        try await MeshHarness.with { h in
            _ = try await ApplyEndToEndTests.apply(try await h.session(try h.multiRemote()))
            let withoutSleep = try await h.session(try h.multiRemote([MeshEdits.removingWorkload("helloworld-gateway")]))
            let (plan, _) = try await withoutSleep.plan(PlanOptions())
            let changed = plan.changes.filter { $0.action.changes }
            #expect(!changed.isEmpty)
            #expect(changed.allSatisfy { $0.action == .delete && $0.address.description.hasPrefix("config/networking.istio.io/") && $0.address.description.contains("/sample/") },
                    "\(changed.map { "\($0.action) \($0.address)" })")
        }
    }

    @Test(arguments: StateKind.allCases) func staleSavedPlansAreRefused(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            // A plan made when no state existed is refused once state has been written.
            let (early, _) = try await session.plan(PlanOptions())
            _ = try await ApplyEndToEndTests.apply(session)
            await #expect { _ = try await ApplyEndToEndTests.apply(session) { $0.saved = early } }
                throws: { if case SessionError.stalePlan = $0 { true } else { false } }
            // A plan made at serial N is refused once the serial moved.
            try await h.withClient("external") { external in
                _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 4]],
                                         fieldManager: "kubectl-edit", force: true)
                let (saved, _) = try await session.plan(PlanOptions())
                let path = h.dir.appendingPathComponent("saved.plan").path
                try SavedPlan.write(saved, to: path)
                let reread = try SavedPlan.read(path)
                #expect(reread.stateSerial == saved.stateSerial && reread.changes.count == saved.changes.count)
                _ = try await ApplyEndToEndTests.apply(session)   // moves the serial
                await #expect { _ = try await ApplyEndToEndTests.apply(session) { $0.saved = reread } }
                    throws: { if case SessionError.stalePlan = $0 { true } else { false } }
            }
        }
    }

    @Test(arguments: StateKind.allCases) func planFromStateAloneNeedsNoCluster(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            for s in h.sims.values { try await s.stop() }
            await #expect { _ = try await session.plan(PlanOptions()) }
                throws: { if case SessionError.unreachable(let down) = $0 { Set(down.keys) == Set(h.sims.keys) } else { false } }
            var offline = PlanOptions(); offline.refresh = false
            let (plan, _) = try await session.plan(offline)
            #expect(!plan.hasChanges)
            #expect(!plan.refreshed)
        }
    }
}
}

/// What istiod does to the webhooks Meshform installed: fills in caBundle and flips failurePolicy to Fail.
enum IstiodStylePatches {
    static func apply(to h: MeshHarness, clusters: [String]) async throws {
        for cluster in clusters {
            try await h.withClient(cluster) { c async throws in
                for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
                    let gvk = GroupVersionKind(group: "admissionregistration.k8s.io", version: "v1", kind: kind)
                    for o in try await c.list(gvk, namespace: nil) {
                        let hooks = (o["webhooks"]?.array ?? []).map { w -> JSON in
                            ["name": w["name"] ?? "", "failurePolicy": "Fail", "clientConfig": ["caBundle": "LS0tLS1CRUdJTi0tLS0t"]]
                        }
                        guard !hooks.isEmpty else { continue }
                        _ = try await c.apply(["apiVersion": "admissionregistration.k8s.io/v1", "kind": .string(kind),
                                               "metadata": ["name": o["metadata"]!["name"]!], "webhooks": .array(hooks)],
                                              fieldManager: "pilot-discovery", force: true)
                    }
                }
            }
        }
    }
}

extension EndToEnd {
/// Choosing what a run touches: `-target`, `--adopt`, `--server-dry-run`.
@Suite struct PlanSelectionTests {
    @Test func targetSelectsAnAddressAndWhatItDependsOn() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            let istiod = "external/apps/Deployment/external-istiod/istiod"
            var options = PlanOptions(); options.targets = [istiod]
            let (plan, _) = try await session.plan(options)
            let addresses = Set(plan.changes.map(\.address.description))
            #expect(addresses.contains(istiod))
            #expect(addresses.contains("external/core/Namespace/_/external-istiod"))
            #expect(addresses.count < session.mesh.resources.count)
            let deps = session.mesh.resource(at: try ResourceAddress(parsing: istiod))!.dependsOn.map(\.description)
            #expect(Set(deps).isSubset(of: addresses))
            options.targets = ["external/core/Namespace/_/no-such"]
            await #expect(throws: PlanError.unknownTarget("external/core/Namespace/_/no-such")) { _ = try await session.plan(options) }
        }
    }

    @Test(arguments: StateKind.allCases) func objectsThatExistButAreNotInStateAreAdoptedOnlyWhenAsked(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            try await h.withClient("config") { config in
                _ = try await config.create(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sample"]])
            }
            let session = try await h.session(try h.multiRemote())
            let sample = "config/core/Namespace/_/sample"

            let (plan, _) = try await session.plan(PlanOptions())
            #expect(plan.changes.first { $0.address.description == sample }?.action == .adopt)
            #expect(plan.changes.first { $0.address.description == sample }?.fields.contains { $0.path.hasPrefix(".metadata.labels") } == true)
            _ = try await ApplyEndToEndTests.apply(session)
            #expect(try StateStore.openReadOnly(path: h.statePath).object(address: sample) == nil)

            let (_, adopted) = try await ApplyEndToEndTests.apply(session) { $0.plan.adopt = true }
            guard case .succeeded = adopted else { Issue.record("adopt: \(adopted)"); return }
            #expect(try StateStore.openReadOnly(path: h.statePath).object(address: sample) != nil)
            let (after, _) = try await session.plan(PlanOptions())
            #expect(!after.hasChanges)
        }
    }

    @Test func serverDryRunShowsWhatTheServerWouldStore() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            try await h.withClient("external") { external in
                _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 4]],
                                         fieldManager: "kubectl-edit", force: true)
                var options = PlanOptions(); options.serverDryRun = true
                let (plan, _) = try await session.plan(options)
                let change = plan.changes.first { $0.address.description == "external/apps/Deployment/external-istiod/istiod" }
                #expect(change?.action == .update)
                #expect(change?.fields.map(\.path) == [".spec.replicas"])
                #expect(change?.after?[path: ["spec", "replicas"]] == 1)
                // The server's answer, not Meshform's body: it carries the other manager's fields too (the full object).
                #expect(change?.after?[path: ["spec", "template"]] != nil)
                // Dry run stores nothing.
                #expect(try await external.get(GroupVersionKind(group: "apps", version: "v1", kind: "Deployment"),
                                               namespace: "external-istiod", name: "istiod")?[path: ["spec", "replicas"]] == 4)
            }
        }
    }
}
}
