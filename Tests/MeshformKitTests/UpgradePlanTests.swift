import Foundation
import KubeModel
@testable import StateStore
import Testing
@testable import MeshformKit

/// The mesh file's day-2 settings, what a revisioned install compiles to, and how a canary upgrade's phase is chosen
/// from the state (DayTwo/).
@Suite struct UpgradePlanTests {
    static func multiRemote(_ edit: (String) -> String = { $0 }) throws -> MeshTopology {
        var text = try String(contentsOfFile: TestPaths.plan("multi-remote.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "  renderer: istioctl", with: "  renderer: manifests\n  manifests: demo")
        text = edit(text)
        return try MeshFile.parse(text: text, path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
    }

    static func revisioned(_ text: String) -> String {
        text.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.25.0\n  revision: 1-25-0\n")
            .replacingOccurrences(of: "  manifests: demo\n", with: "  manifests: demo/1.25.0\n")
    }

    static func compile(_ t: MeshTopology) async throws -> CompiledMesh { try await Compiler(renderer: Compiler.renderer(for: t)).compile(t) }

    @Test func revisionAndUpgradeModeAreRead() throws {
        let t = try loadMesh(minimalMesh.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.24.0\n  revision: 1-24-0\n  renderer: manifests\n  manifests: \(TestPaths.demoManifests)\n")
            + "\nlifecycle:\n  upgrade: auto\n")
        #expect(t.istio.revision == "1-24-0")
        #expect(t.lifecycle.upgrade == .auto)
        #expect(try loadMesh(minimalMesh).lifecycle.upgrade == .manual)
    }

    @Test func aBadRevisionOrUpgradeModeIsRefusedWithItsPlace() {
        let bad = diagnostics(minimalMesh.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.24.0\n  revision: 1.25_0\n"))
        #expect(bad.contains { $0.message.contains("revision '1.25_0' is not a valid DNS-1123 label") && $0.location.line == 4 })
        let mode = diagnostics(minimalMesh + "\nlifecycle:\n  upgrade: sometimes\n")
        #expect(mode.contains { $0.message.contains("lifecycle.upgrade 'sometimes' is not an upgrade mode") })
    }

    @Test func aRevisionedInstallRoutesToItsIstiodAndCarriesTheDefaultTag() async throws {
        let mesh = try await Self.compile(try Self.multiRemote(Self.revisioned))
        let vs = try #require(mesh.resources.first { $0.address.kind == "VirtualService" && $0.address.name == "external-istiod-vs" })
        let http = vs.body[path: ["spec", "http"]]?.array ?? []
        #expect(http.first?["name"]?.string == "rev-1-25-0")
        #expect(http.first?[path: ["match"]]?.array?.first?[path: ["uri", "prefix"]]?.string == "/rev/1-25-0/")
        #expect(http.allSatisfy { $0["route"]?.array?.first?[path: ["destination", "host"]]?.string == "istiod-1-25-0.external-istiod.svc.cluster.local" })
        #expect(mesh.resources.contains { $0.address.kind == "DestinationRule" && $0.address.name == "external-istiod-dr-1-25-0" })
        #expect(!mesh.resources.contains { $0.address.kind == "DestinationRule" && $0.address.name == "external-istiod-dr" })
        for cluster in ["remote1", "remote2"] {
            let tag = try #require(mesh.resources.first { $0.address.cluster == cluster && $0.address.name == "istio-sidecar-injector-external-istiod" })
            #expect(tag.body.labels["istio.io/tag"] == "default" && tag.body.labels["istio.io/rev"] == "1-25-0")
            let url = tag.body["webhooks"]?.array?.first?[path: ["clientConfig", "url"]]?.string ?? ""
            #expect(url.hasPrefix("https://istiod.example.com:15017/inject/"), "\(url)")
            let rev = try #require(mesh.resources.first { $0.address.cluster == cluster && $0.address.name == "istio-sidecar-injector-1-25-0-external-istiod" })
            #expect(rev.body["webhooks"]?.array?.first?[path: ["clientConfig", "url"]]?.string?.hasPrefix("https://istiod.example.com:15017/rev/1-25-0/inject/") == true)
            // The webhooks wait for the new istiod (DependencyRules knows its revisioned name).
            #expect(tag.dependsOn.contains { $0.kind == "Deployment" && $0.name == "istiod-1-25-0" })
        }
    }

    @Test func theUnrevisionedInstallIsUnchanged() async throws {
        let mesh = try await Self.compile(try Self.multiRemote())
        #expect(!mesh.resources.contains { $0.body.labels["istio.io/tag"] != nil })
        let vs = try #require(mesh.resources.first { $0.address.name == "external-istiod-vs" })
        #expect(!(vs.body[path: ["spec", "http"]]?.array ?? []).contains { $0["name"] != nil })
    }

    /// The state after applying `mesh`, as the planner reads it.
    static func state(of mesh: CompiledMesh) -> StateSnapshot {
        StateSnapshot(lineage: "l", serial: 1, objects: mesh.resources.map { r in
            ManagedObject(address: r.address.description, cluster: r.address.cluster, apiVersion: r.body.apiVersion ?? "v1",
                          kind: r.address.kind, namespace: r.address.namespace, name: r.address.name, applied: r.body, sensitive: r.sensitive)
        }, lastApplyConfigHash: mesh.configHash, lock: nil, unfinishedRun: nil, unfinishedJournal: [])
    }

    @Test func theNextPhaseIsReadFromTheState() async throws {
        let old = try await Self.compile(try Self.multiRemote())
        let new = try await Self.compile(try Self.multiRemote(Self.revisioned))
        #expect(try CanaryUpgrade.phase(of: old, state: Self.state(of: old), finalize: false).1 == nil)
        #expect(try CanaryUpgrade.phase(of: new, state: nil, finalize: false).1 == nil, "a first install is no upgrade")

        let (phase1, s1) = try CanaryUpgrade.phase(of: new, state: Self.state(of: old), finalize: false)
        #expect(s1?.phase == 1 && s1?.fromRevision == "default" && s1?.toRevision == "1-25-0")
        // Phase 1 keeps the old istiod and the default tag as applied.
        #expect(phase1.resource(at: try ResourceAddress(parsing: "external/apps/Deployment/external-istiod/istiod")) != nil)
        let tag = try #require(phase1.resource(at: try ResourceAddress(parsing: "remote1/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod")))
        #expect(tag.body.labels["istio.io/rev"] == "default")
        #expect(phase1.configHash != new.configHash, "a saved plan of one phase is never applied as another")

        let (_, s3) = try CanaryUpgrade.phase(of: new, state: Self.state(of: old).merging(new), finalize: false)
        #expect(s3?.phase == 3 && s3?.runs == false)
        let (final, f3) = try CanaryUpgrade.phase(of: new, state: Self.state(of: old).merging(new), finalize: true)
        #expect(f3?.runs == true && final.configHash == new.configHash)
    }

    @Test func aVersionChangeWithoutANewRevisionIsRefused() async throws {
        let old = try await Self.compile(try Self.multiRemote())
        // The new version's rendering (the 1.25.0 stand-ins: istiod's image is 1.25.0) on the same, unrevisioned install.
        let bumped = try await Self.compile(try Self.multiRemote {
            $0.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.25.0\n").replacingOccurrences(of: "  manifests: demo\n", with: "  manifests: demo/1.25.0\n")
        })
        #expect(throws: UpgradeError.sameRevision(revision: "default", from: "1.24.0", to: "1.25.0")) {
            _ = try CanaryUpgrade.phase(of: bumped, state: Self.state(of: old), finalize: false)
        }
    }

    /// A mesh file whose `istio.version` moved while the rendering did not (manifests not re-rendered) replaces nothing:
    /// the istiod that would be applied is the one running, so there is no in-place upgrade to refuse.
    @Test func aVersionChangeThatRendersTheSameIstiodIsNoUpgrade() async throws {
        let old = try await Self.compile(try Self.multiRemote())
        let bumped = try await Self.compile(try Self.multiRemote { $0.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.25.0\n") })
        let (_, status) = try CanaryUpgrade.phase(of: bumped, state: Self.state(of: old), finalize: false)
        #expect(status == nil)
    }

    @Test func theIstiodVersionIsReadFromItsImage() {
        func d(_ image: String) -> JSON { ["spec": ["template": ["spec": ["containers": [["image": .string(image)]]]]]] }
        #expect(CanaryUpgrade.imageVersion(d("docker.io/istio/pilot:1.24.0")) == IstioVersion("1.24.0"))
        #expect(CanaryUpgrade.imageVersion(d("registry:5000/istio/pilot:1.25.1-distroless")) == IstioVersion("1.25.1"))
        #expect(CanaryUpgrade.imageVersion(d("registry:5000/istio/pilot")) == nil)
    }
}

extension StateSnapshot {
    /// This state with `mesh` applied on top (phases 1 and 2 done: every object of both revisions).
    func merging(_ mesh: CompiledMesh) -> StateSnapshot {
        var s = self
        let fresh = UpgradePlanTests.state(of: mesh).objects
        let addresses = Set(fresh.map(\.address))
        s.objects = s.objects.filter { !addresses.contains($0.address) } + fresh
        return s
    }
}

extension UpgradePlanTests {
    /// istioctl (the default renderer) is given the revision from Istio 1.10 on (revision tags); before, it is refused.
    @Test func aRevisionWithARendererThatCannotRenderItIsRefused() {
        let d = diagnostics(minimalMesh.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.9.5\n  revision: 1-9-5\n"))
        #expect(d.contains { $0.message.contains("istio.revision '1-9-5' needs Istio 1.10 or later") && $0.location.line == 4 })
    }
}

extension UpgradePlanTests {
    @Test func withUpgradeAutoTheLastPhaseFollowsWithoutFinalize() async throws {
        let old = try await Self.compile(try Self.multiRemote())
        let new = try await Self.compile(try Self.multiRemote { Self.revisioned($0) + "\nlifecycle:\n  upgrade: auto\n" })
        let (mesh, status) = try CanaryUpgrade.phase(of: new, state: Self.state(of: old).merging(new), finalize: false)
        #expect(status?.phase == 3 && status?.runs == true)
        #expect(mesh.configHash == new.configHash, "phase 3 is the mesh file's own mesh")
    }
}
