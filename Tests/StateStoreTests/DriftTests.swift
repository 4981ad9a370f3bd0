import Foundation
import Testing
import KubeModel
@testable import StateStore

@Suite struct DriftTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func driftEpisodeOpensUpdatesAndResolves() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let replicas = DriftFinding(address: "remote1/apps/Deployment/sample/helloworld", cluster: "remote1", kind: .modified, fields: ["spec.replicas"])
        try store.recordDriftCheck(findings: [replicas], at: t0)
        var more = replicas; more.fields = ["spec.replicas", "spec.template.spec.containers[0].image"]
        try store.recordDriftCheck(findings: [more], at: t0 + 60)
        var h = try store.driftHistory()
        #expect(h.count == 1)
        #expect(h[0].firstSeen == t0 && h[0].lastSeen == t0 + 60 && h[0].resolvedAt == nil && h[0].fields == more.fields)
        try store.recordDriftCheck(findings: [], at: t0 + 120)
        h = try store.driftHistory()
        #expect(h[0].resolvedAt == t0 + 120)
        // The same drift again is a new episode.
        try store.recordDriftCheck(findings: [replicas], at: t0 + 180)
        #expect(try store.driftHistory().count == 2)
        #expect(try store.openDrift().map(\.firstSeen) == [t0 + 180])
        #expect(try store.serial() == 0)   // drift is an observation: saved plans stay valid
    }

    @Test func uncheckedClustersKeepTheirOpenDrift() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        try store.recordDriftCheck(findings: [
            DriftFinding(address: "remote1/x", cluster: "remote1", kind: .deleted),
            DriftFinding(address: "remote2/y", cluster: "remote2", kind: .orphan),
        ], at: t0)
        // remote2 was unreachable this time: only remote1 was checked, and it is clean.
        try store.recordDriftCheck(findings: [], at: t0 + 60, clusters: ["remote1"])
        let open = try store.openDrift()
        #expect(open.map(\.address) == ["remote2/y"])
    }
}
