import Foundation
import Testing
import KubeModel
@testable import StateStore

/// The plan benchmark's shape (1 external + 20 remotes, the all-on manifests on each) as state: one batch upsert
/// stores every object, and one `snapshot()` (the store's share of a no-change plan) reads every one back. How long
/// that takes is measured in docs/state.md, not asserted here.
@Suite struct ScaleTests {
    /// all-on.yaml plus the helloworld and sleep samples: what one cluster of the benchmark holds.
    static let allOn: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fixtures = root.appendingPathComponent("../shared/fixtures/istio").standardized
        let files = ["istioctl-output/all-on.yaml", "samples/helloworld.yaml", "samples/sleep.yaml", "samples/helloworld-gateway.yaml"]
        let texts = files.compactMap { try? String(contentsOf: fixtures.appendingPathComponent($0), encoding: .utf8) }
        return texts.count == files.count ? texts.joined(separator: "\n---\n") : nil
    }()

    @Test(.enabled(if: allOn != nil, "fixture ../shared/fixtures/istio/istioctl-output/all-on.yaml absent"))
    func snapshotOfTwentyOneClustersOfAllOnReadsEveryObjectBack() throws {
        let docs = try YAMLDocuments.parse(try #require(Self.allOn)).filter { $0.kind != nil }
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        var objects = [ManagedObject]()
        for c in ["external"] + (1...20).map({ "remote\($0)" }) {
            objects += docs.map { managed($0, cluster: c) }
        }
        try store.upsert(objects, run: nil)
        let snap = try store.snapshot()
        #expect(objects.count > 21 * 40)
        #expect(Set(snap.objects.map(\.address)) == Set(objects.map(\.address)))
    }
}
