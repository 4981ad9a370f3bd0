import Foundation
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// `meshform drift` against live KubeSim clusters: exact, lock-free, and useful to cron.
extension EndToEnd {
@Suite struct DriftEndToEndTests {
    @Test(arguments: StateKind.allCases) func noDriftAfterApplyEvenAfterIstiodPatchesAndUnmanagedEdits(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            try await IstiodStylePatches.apply(to: h, clusters: ["config", "remote2"])
            try await h.withClient("external") { c in
                _ = try await c.apply(["apiVersion": "v1", "kind": "Namespace",
                                   "metadata": ["name": "external-istiod", "annotations": ["team.example/owner": "mesh"]]],
                                  fieldManager: "kubectl-annotate", force: true)
                let report = try await session.drift()
                #expect(!report.hasDrift, "\(report.text())")
                #expect(report.objectsChecked == session.mesh.resources.count)
                #expect(report.unreachable.isEmpty)
            }
        }
    }

    @Test(arguments: StateKind.allCases) func everyKindOfDriftIsFoundWithPathAndManager(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            try await h.withClient("external") { external in
                try await h.withClient("config") { config in

                    // Modified: a kubectl edit of istiod's replicas; a relabelled namespace.
                    _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                              "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 3]],
                                             fieldManager: "kubectl-edit", force: true)
                    _ = try await config.apply(["apiVersion": "v1", "kind": "Namespace",
                                            "metadata": ["name": "sample", "labels": ["istio-injection": "disabled"]]],
                                           fieldManager: "kubectl-label", force: true)
                    // Deleted: a remote secret.
                    let secret = GroupVersionKind(group: "", version: "v1", kind: "Secret")
                    _ = try await external.delete(secret, namespace: "external-istiod", name: "istio-remote-secret-remote2",
                                                  propagation: nil, waitUntilGone: .seconds(5))
                    // Modified, and no longer found by the labelled LISTs: Meshform's own labels removed by kubectl.
                    let unlabel = try await h.kubectl("external", ["label", "namespace", "external-istiod", "\(Compiler.managedByLabel)-", "\(Compiler.meshLabel)-"])
                    #expect(unlabel.status == 0, "\(unlabel.output)")
                    // Orphan: an object carrying Meshform's labels that state does not know.
                    _ = try await config.create(["apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": ["name": "stray", "namespace": "sample",
                                                          "labels": [.init(Compiler.managedByLabel): .string(Compiler.managedByValue),
                                                                      .init(Compiler.meshLabel): .string(session.mesh.topology.name)]]])

                    let report = try await session.drift()
                    #expect(report.hasDrift)
                    let istiod = report.findings.first { $0.address.description == "external/apps/Deployment/external-istiod/istiod" }
                    #expect(istiod?.kind == .modified)
                    #expect(istiod?.fields.map(\.path) == [".spec.replicas"])
                    #expect(istiod?.fields.first?.manager == "kubectl-edit")
                    #expect(istiod?.fields.first?.live == 3)
                    let ns = report.findings.first { $0.address.description == "config/core/Namespace/_/sample" }
                    #expect(ns?.fields.first?.path == ".metadata.labels.istio-injection")
                    #expect(ns?.fields.first?.manager == "kubectl-label")
                    #expect(report.findings.contains { $0.kind == .deleted && $0.address.description.hasSuffix("/istio-remote-secret-remote2") })
                    let unlabelled = report.findings.first { $0.address.description == "external/core/Namespace/_/external-istiod" }
                    #expect(unlabelled?.kind == .modified, "\(report.text())")
                    #expect(unlabelled?.fields.contains { $0.path.contains("managed-by") } == true)
                    #expect(report.findings.contains { $0.kind == .orphan && $0.address.description == "config/core/ConfigMap/sample/stray" })

                    // JSON and metrics formats.
                    let json = try JSON(data: report.json())
                    #expect(json["format_version"] == 1)
                    #expect(json["findings"]?.array?.contains { $0["object_kind"] == "Deployment" && $0["kind"] == "modified" } == true)
                    let metrics = report.prometheusText()
                    #expect(metrics.contains(#"meshform_drift_objects{mesh="\#(report.mesh)",cluster="external",kind="Deployment",drift="modified"} 1"#))
                    #expect(metrics.contains("# TYPE meshform_drift_last_check_timestamp_seconds gauge"))

                    // History: first seen now; resolved once the drift is gone.
                    _ = try await ApplyEndToEndTests.apply(session)
                    try await config.delete(GroupVersionKind(group: "", version: "v1", kind: "ConfigMap"), namespace: "sample", name: "stray",
                                            propagation: nil, waitUntilGone: .seconds(5))
                    let clean = try await session.drift()
                    #expect(!clean.hasDrift, "\(clean.text())")
                    let history = try session.driftHistory()
                    #expect(history.contains { $0.address == "external/apps/Deployment/external-istiod/istiod" && $0.resolvedAt != nil })
                }
            }
        }
    }

    @Test(arguments: StateKind.allCases) func driftRunsWhileAnApplyHoldsTheLock(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            let store = try StateStore.open(path: h.statePath)
            let lock = try await store.acquireLock(who: "another-apply", operation: "apply", timeout: .zero)
            let report = try await session.drift()
            #expect(report.applyInProgress)
            #expect(!report.hasDrift)
            // And apply, meanwhile, is refused at once with who holds the lock.
            await #expect { _ = try await ApplyEndToEndTests.apply(session) }
                throws: { if case StateError.locked(_, let holder) = $0 { holder.id == lock.id } else { false } }
            try store.releaseLock(lock)
        }
    }

    @Test func oneClusterDownIsAnErrorAndTheOthersAreStillChecked() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            try await h.withClient("config") { config in
                _ = try await config.apply(["apiVersion": "v1", "kind": "Namespace",
                                        "metadata": ["name": "sample", "labels": ["istio-injection": "disabled"]]],
                                       fieldManager: "kubectl-label", force: true)
            }
            try await h.sims["remote2"]!.stop()
            let report = try await session.drift()
            #expect(report.unreachable.keys.sorted() == ["remote2"])
            #expect(report.findings.contains { $0.address.description == "config/core/Namespace/_/sample" })
            #expect(!report.findings.contains { $0.cluster == "remote2" })
            #expect(report.prometheusText().contains(#"meshform_drift_cluster_up{mesh="\#(report.mesh)",cluster="remote2"} 0"#))
        }
    }
}
}
