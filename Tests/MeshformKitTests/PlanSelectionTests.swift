import Foundation
import KubeModel
import Testing
@testable import StateStore
@testable import MeshformKit

/// Issue 12: which objects a plan touches follows Terraform's rules (each rule one test). The mesh is the guide
/// compiled with the demo's stand-ins; state and live are "everything applied", so each test changes one thing.
@Suite struct PlanSelectionTests {
    let mesh: CompiledMesh
    init() async throws { mesh = try await compileWithStandIns("external-controlplane.yaml") }

    /// Every resource in state, recorded as applied, with its dependencies.
    func appliedState(except: Set<String> = []) -> StateSnapshot {
        let objects = mesh.resources.filter { !except.contains($0.address.description) }.map { r in
            ManagedObject(address: r.address.description, cluster: r.address.cluster, apiVersion: r.body.apiVersion ?? "v1",
                          kind: r.body.kind ?? "", namespace: r.body.namespace, name: r.body.name ?? "", uid: "u",
                          applied: r.body, dependencies: r.dependsOn.map(\.description).sorted(), sensitive: r.sensitive)
        }
        return StateSnapshot(lineage: "l", serial: 1, objects: objects, lastApplyConfigHash: nil, lock: nil,
                             unfinishedRun: nil, unfinishedJournal: [])
    }

    /// Live equals the desired bodies (computed placeholders are left as they are: the rules here do not look at them).
    var allLive: LiveObjects { LiveObjects(objects: Dictionary(uniqueKeysWithValues: mesh.resources.map { ($0.address.description, $0.body) })) }

    func plan(_ options: PlanOptions, state: StateSnapshot? = nil, live: LiveObjects? = nil, mesh m: CompiledMesh? = nil) throws -> Plan {
        try Planner(mesh: m ?? mesh, state: state ?? appliedState(), live: live ?? allLive, endpoints: [:], meshFile: "mesh.yaml",
                    mask: { $0 }).plan(options).0
    }

    func address(kind: String, name: String) throws -> String {
        try #require(mesh.resources.first { $0.address.kind == kind && $0.address.name == name }).address.description
    }

    @Test func destroyTargetSelectsWhatDependsOnItNeverWhatItDependsOn() throws {
        let workload = try address(kind: "Deployment", name: "sleep")
        var o = PlanOptions(); o.operation = .destroy; o.targets = [workload]
        let deleted = try plan(o).changes.filter { $0.action == .delete }.map(\.address.description)
        #expect(deleted == [workload], "a workload's Deployment: nothing depends on it")

        // A namespace: everything in it goes with it (dependents first), nothing it depends on.
        let namespace = try address(kind: "Namespace", name: "sample")
        o.targets = [namespace]
        let withContents = try plan(o).changes.filter { $0.action == .delete }.map(\.address.description)
        let dependents = Set(mesh.resources.filter { $0.dependsOn.contains { $0.description == namespace } }.map(\.address.description))
        #expect(!dependents.isEmpty)
        #expect(Set(withContents) == dependents.union([namespace]).union(transitiveDependents(of: dependents)))
        #expect(withContents.last == namespace, "the namespace is deleted after what is in it")
        #expect(!withContents.contains { $0.contains("CustomResourceDefinition") || $0.hasSuffix("/istiod") })
    }

    func transitiveDependents(of start: Set<String>) -> Set<String> {
        var out = start
        var changed = true
        while changed {
            changed = false
            for r in mesh.resources where !out.contains(r.address.description) && r.dependsOn.contains(where: { out.contains($0.description) }) {
                out.insert(r.address.description); changed = true
            }
        }
        return out
    }

    @Test func applyTargetSelectsWhatItDependsOn() throws {
        let workload = try address(kind: "Deployment", name: "sleep")
        var o = PlanOptions(); o.targets = [workload]
        let selected = Set(try plan(o, state: appliedState(except: Set(mesh.resources.map(\.address.description))),
                                    live: LiveObjects()).changes.map(\.address.description))
        let r = try #require(mesh.resource(at: workload))
        #expect(selected.contains(workload))
        #expect(r.dependsOn.allSatisfy { selected.contains($0.description) })
        #expect(selected.count < mesh.resources.count)
    }

    @Test func unknownTargetAndReplaceAddressesAreErrors() throws {
        var o = PlanOptions(); o.targets = ["remote1/apps/Deployment/sample/nope"]
        #expect(throws: PlanError.unknownTarget("remote1/apps/Deployment/sample/nope")) { try plan(o) }
        o = PlanOptions(); o.replace = ["remote1/apps/Deployment/sample/nope"]
        #expect(throws: PlanError.unknownReplace("remote1/apps/Deployment/sample/nope")) { try plan(o) }
        let workload = try address(kind: "Deployment", name: "sleep")
        o.replace = [workload]
        #expect(try plan(o).changes.first { $0.address.description == workload }?.action == .replace)
    }

    @Test func preventDestroyRefusesReplaceAndDeleteInEveryOperation() throws {
        let namespace = try address(kind: "Namespace", name: "external-istiod")
        var protected = mesh
        for i in protected.resources.indices where protected.resources[i].address.description == namespace {
            protected.resources[i].preventDestroy = true
        }
        var o = PlanOptions(); o.replace = [namespace]
        #expect(throws: PlanError.preventDestroy(address: namespace, action: .replace)) { try plan(o, mesh: protected) }
        o = PlanOptions(); o.operation = .destroy
        #expect(throws: PlanError.preventDestroy(address: namespace, action: .delete)) { try plan(o, mesh: protected) }
        // A destroy that does not reach it is fine.
        o.targets = [try address(kind: "Deployment", name: "sleep")]
        #expect(try plan(o, mesh: protected).changes.count == 1)
        // An immutable-field change to a protected Deployment is a replace, refused too.
        let istiod = try address(kind: "Deployment", name: "istiod")
        for i in protected.resources.indices where protected.resources[i].address.description == istiod {
            protected.resources[i].preventDestroy = true
        }
        var live = allLive
        live.objects[istiod]?[path: ["spec", "selector"]] = ["matchLabels": ["app": "other"]]
        #expect(throws: PlanError.preventDestroy(address: istiod, action: .replace)) { try plan(PlanOptions(), live: live, mesh: protected) }
    }

    @Test func anObjectNotInStateIsNeverDeletedWithoutAdopt() throws {
        let istiod = try address(kind: "Deployment", name: "istiod")
        let state = appliedState(except: [istiod])
        var live = allLive
        live.objects[istiod]?[path: ["spec", "selector"]] = ["matchLabels": ["app": "other"]]
        // An immutable field differs: without --adopt it stays an (unapproved) adoption, never a replace.
        let change = try #require(try plan(PlanOptions(), state: state, live: live).changes.first { $0.address.description == istiod })
        #expect(change.action == .adopt && !change.adoptApproved)
        #expect(change.reason?.contains("immutable field") == true)
        var o = PlanOptions(); o.replace = [istiod]
        #expect(throws: PlanError.replaceUnmanaged(istiod)) { try plan(o, state: state, live: live) }
        // With --adopt the user takes it over: then it may be replaced.
        o = PlanOptions(); o.adopt = true
        #expect(try plan(o, state: state, live: live).changes.first { $0.address.description == istiod }?.action == .replace)
    }
}
