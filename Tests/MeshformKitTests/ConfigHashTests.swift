import Foundation
import Testing
@testable import MeshformKit

/// Issue 14: `configHash` covers what the renderer produced, not only what it was given, so a changed chart, istioctl
/// or manifest makes a saved plan stale (`MeshSession.checkSaved` compares the hashes) and shows as configuration drift.
@Suite struct ConfigHashTests {
    /// A private copy of the demo's pre-rendered manifests, and the guide's mesh file compiled against it.
    static func compile(_ manifests: URL) async throws -> CompiledMesh {
        let t = try MeshFile.load(path: TestPaths.plan("external-controlplane.yaml"), environment: guideEnvironment)
        return try await Compiler(renderer: ManifestDirectoryRenderer(directory: manifests.path)).compile(t)
    }

    @Test func changedRenderedOutputChangesTheHashWithTheSameMeshFile() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifests = dir.appendingPathComponent("demo")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: TestPaths.demoManifests), to: manifests)
        let before = try await Self.compile(manifests)
        #expect(try await Self.compile(manifests).configHash == before.configHash)   // same output, same hash

        // The tool's output changes (as a new chart or istioctl would render it); the mesh file does not.
        let file = manifests.appendingPathComponent("remote-config-cluster.yaml")
        let original = try String(contentsOf: file, encoding: .utf8)
        let changed = original.replacingOccurrences(of: "categories: [istio-io, networking-istio-io]", with: "categories: [istio-io]")
        try #require(changed != original)
        try changed.write(to: file, atomically: true, encoding: .utf8)
        let after = try await Self.compile(manifests)
        #expect(after.topology.sourceText == before.topology.sourceText)
        #expect(after.resources.map(\.body) != before.resources.map(\.body))
        #expect(after.configHash != before.configHash)

        // Back to the first output: back to the first hash.
        try original.write(to: file, atomically: true, encoding: .utf8)
        #expect(try await Self.compile(manifests).configHash == before.configHash)
    }
}

@Suite struct DriftMetricsTests {
    @Test func clusterUpIsOneForEachCheckedClusterAndZeroForEachUnreachableOne() {
        let report = DriftReport(mesh: "m", checkedAt: Date(timeIntervalSince1970: 0), durationSeconds: 0, findings: [],
                                 configDrift: false, unreachable: ["remote2": "connection refused"],
                                 clusters: ["external", "remote1", "remote2"], applyInProgress: false, objectsChecked: 0)
        let lines = report.prometheusText().split(separator: "\n").filter { $0.hasPrefix("meshform_drift_cluster_up{") }
        #expect(lines == [#"meshform_drift_cluster_up{mesh="m",cluster="external"} 1"#,
                          #"meshform_drift_cluster_up{mesh="m",cluster="remote1"} 1"#,
                          #"meshform_drift_cluster_up{mesh="m",cluster="remote2"} 0"#])
    }
}
