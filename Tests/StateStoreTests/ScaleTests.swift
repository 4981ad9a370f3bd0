import Foundation
import Testing
import KubeModel
@testable import StateStore

/// The plan benchmark's shape (1 external + 20 remotes, the all-on manifests on each) as state: the
/// store's share of a no-change plan is one `snapshot()`, and it must be a small part of the 1 s budget.
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
    func snapshotOfTwentyOneClustersOfAllOnIsFast() throws {
        let docs = try YAMLDocuments.parse(try #require(Self.allOn)).filter { $0.kind != nil }
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        var objects = [ManagedObject]()
        for c in ["external"] + (1...20).map({ "remote\($0)" }) {
            objects += docs.map { managed($0, cluster: c) }
        }
        var clock = ContinuousClock.now
        try store.upsert(objects, run: nil)
        let write = ContinuousClock.now - clock
        clock = ContinuousClock.now
        let snap = try store.snapshot()
        let read = ContinuousClock.now - clock
        let bytes = (try FileManager.default.attributesOfItem(atPath: t.path)[.size] as? NSNumber)?.intValue ?? 0
        let wal = (try? FileManager.default.attributesOfItem(atPath: t.path + "-wal")[.size] as? NSNumber)?.intValue ?? 0
        print("StateStore scale: \(objects.count) objects (all-on.yaml x 21 clusters): batch upsert \(write), snapshot \(read), file \(bytes / 1024) KiB + WAL \(wal / 1024) KiB")
        #expect(snap.objects.count == Set(objects.map(\.address)).count)
        // A regression guard for debug builds on a busy 2-core machine; numbers measured are in docs/state.md.
        #expect(read < .seconds(5))
    }
}
