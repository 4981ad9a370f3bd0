import Foundation
import KubeClient
import KubeModel
import Testing
@testable import MeshformKit

/// Helm v4's real engine as a second real client of KubeSim (beside kubectl): it talks to KubeSim through
/// client-go, as Helm, Argo CD and istiod do on real clusters. tools/helm-client.py drives it (PyPI helm-sdkpy,
/// Helm's Go library) to install Istio's real charts from ../shared/fixtures/istio/charts with the values
/// Meshform's helm renderer gives the guide's steps (base + istiod with the remote profile on the config cluster,
/// the external istiod on the external cluster), then upgrade and uninstall them. What a real cluster shows is
/// asserted: every object of the release manifest with Helm's ownership label and annotations, the release
/// Secrets (`sh.helm.release.v1.NAME.vN`), upgrades applied client-side and server-side, `--wait` ending, and
/// uninstall removing everything but what the chart marks `helm.sh/resource-policy: keep` (Istio's CRDs).
extension EndToEnd {
@Suite struct HelmClientTests {
    static let shared = MeshHarness.packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let charts = shared.appendingPathComponent("fixtures/istio/charts").path
    static let tool = MeshHarness.packageRoot.appendingPathComponent("tools/helm-client.py").path
    /// Python 3.12+, which helm-sdkpy needs (../shared/tools/helm/setup installs helm-sdkpy into it; .ci/run runs it).
    static let python: String? = {
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        // The image's pyenv Python first; pyenv's shims on PATH answer "command not found" for a version not selected.
        return (["\(home)/.pyenv/versions/3.12.1/bin/python"] + path.filter { !$0.contains("/shims") }.flatMap { ["\($0)/python3.12", "\($0)/python3.13"] })
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static let available = python != nil && FileManager.default.fileExists(atPath: charts + "/istiod/Chart.yaml")

    @Test(.enabled(if: available, "needs Python 3.12 (helm-sdkpy, Helm's engine) and ../shared/fixtures/istio/charts"))
    func helmInstallsUpgradesAndUninstallsIstiosChartsAsOnARealCluster() async throws {
        try await MeshHarness.with { h in try await run(h) }
    }

    /// A release as installed: where, and the objects of its manifest.
    struct Release {
        var cluster: String
        var name: String
        var namespace: String
        var chart: String
        var values: JSON
        var objects: [JSON] = []
    }

    func run(_ h: MeshHarness) async throws {
        // The guide's newest form, mapped to Helm installs by Meshform's helm renderer (HelmRenderer.invocations).
        let topology = try MeshFile.load(path: try h.multiRemote(), environment: h.environment)
        let components = IstioOperatorDocuments.components(for: topology, address: Compiler.addressText(topology))
        let renderer = HelmRenderer(charts: Self.charts, expectedVersion: nil)
        var releases: [Release] = []
        for c in components where c.kind == .remoteConfigCluster || c.kind == .externalIstiod {
            for inv in renderer.invocations(for: c) {
                releases.append(Release(cluster: c.cluster, name: inv.release, namespace: inv.namespace, chart: inv.chart, values: inv.values))
            }
        }
        try #require(releases.map { "\($0.cluster)/\($0.chart)" } == ["config/base", "config/istiod", "external/istiod"])

        // Install: the config cluster's two releases with server-side apply, the external istiod client-side and
        // with --wait (Helm watches every object until kstatus calls it current: watch-list, Deployment rollout).
        for i in releases.indices {
            let r = releases[i]
            let external = r.cluster == "external"
            let answer = try await helm(h, ["install", h.kubeconfigs[r.cluster]!, r.namespace, r.name, "\(Self.charts)/\(r.chart)",
                                            "--values", try values(h, r)] + (external ? ["--wait"] : ["--server-side"]))
            #expect(answer["info"]?["status"] == "deployed", "\(r.name) on \(r.cluster): \(answer["info"] ?? answer)")
            releases[i].objects = try YAMLDocuments.parse(answer["manifest"]?.string ?? "").filter { $0.kind != nil }
            #expect(!releases[i].objects.isEmpty, "\(r.name): an empty manifest")
            try await expectOwned(h, releases[i], revision: 1)
        }
        // What the guide's steps need from these releases is there, as on a real cluster.
        let webhook = try await get(h, "config", ["apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                                                   "metadata": ["name": "istio-sidecar-injector-external-istiod"]])
        #expect(webhook?["webhooks"]?[0]?[path: ["clientConfig", "url"]]?.string?.hasPrefix("https://istiod.mesh.example.com:15017/inject") == true)
        let deployment = try await get(h, "external", ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "istiod", "namespace": "external-istiod"]])
        #expect(deployment?[path: ["status", "availableReplicas"]] != nil, "--wait returned before istiod was available")

        // Upgrade client-side: the external istiod gets an env var; revision 2 deployed, revision 1 superseded.
        var ext = releases[2]
        ext.values[path: ["env", "MESHFORM_UPGRADE"]] = "2"
        let upgraded = try await helm(h, ["upgrade", h.kubeconfigs["external"]!, ext.namespace, ext.name, "\(Self.charts)/istiod",
                                          "--values", try values(h, ext), "--wait"])
        #expect(upgraded["version"]?.int == 2, "\(upgraded["info"] ?? upgraded)")
        let env = try await get(h, "external", ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "istiod", "namespace": "external-istiod"]])?[path: ["spec", "template", "spec", "containers"]]?[0]?["env"]?.array ?? []
        #expect(env.contains { $0["name"] == "MESHFORM_UPGRADE" && $0["value"] == "2" }, "the upgrade's env var is missing")
        try await expectOwned(h, ext, revision: 2)
        #expect(try await releaseSecret(h, ext, 1)?.labels["status"] == "superseded")

        // Upgrade server-side: the config cluster's istiod gets a mesh setting in its `istio` ConfigMap.
        var remote = releases[1]
        remote.values[path: ["meshConfig", "accessLogFile"]] = "/dev/stdout"
        let upgradedSSA = try await helm(h, ["upgrade", h.kubeconfigs["config"]!, remote.namespace, remote.name, "\(Self.charts)/istiod",
                                             "--values", try values(h, remote), "--server-side"])
        #expect(upgradedSSA["version"]?.int == 2, "\(upgradedSSA["info"] ?? upgradedSSA)")
        let mesh = try await get(h, "config", ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "istio", "namespace": "external-istiod"]])
        #expect(mesh?[path: ["data", "mesh"]]?.string?.contains("accessLogFile: /dev/stdout") == true)
        let history = try await helm(h, ["history", h.kubeconfigs["config"]!, remote.namespace, remote.name])
        #expect(history.array?.count == 2)

        // Uninstall, newest first: every object goes, but the CRDs Istio marks `helm.sh/resource-policy: keep`.
        for r in releases.reversed() {
            _ = try await helm(h, ["uninstall", h.kubeconfigs[r.cluster]!, r.namespace, r.name])
            for o in r.objects {
                let live = try await get(h, r.cluster, o, namespace: r.namespace)
                if o.annotations["helm.sh/resource-policy"] == "keep" {
                    #expect(live != nil, "\(o.kind!)/\(o.name!) is kept by its resource policy, yet gone")
                } else {
                    #expect(live == nil || live?[path: ["metadata", "deletionTimestamp"]] != nil, "\(o.kind!)/\(o.name!) of \(r.name) is left after uninstall")
                }
            }
            let first = try await releaseSecret(h, r, 1), second = try await releaseSecret(h, r, 2)
            #expect(first == nil && second == nil, "\(r.name)'s release Secrets are left")
        }
        let kept = releases[0].objects.filter { $0.annotations["helm.sh/resource-policy"] == "keep" }
        #expect(kept.contains { $0.kind == "CustomResourceDefinition" }, "the base chart should mark its CRDs keep")
    }

    /// Every object of the release carries Helm's ownership metadata, and the release is stored as Helm stores it.
    func expectOwned(_ h: MeshHarness, _ r: Release, revision: Int) async throws {
        for o in r.objects {
            let live = try await get(h, r.cluster, o, namespace: r.namespace)
            #expect(live != nil, "\(o.kind!)/\(o.name!) of \(r.name) is missing")
            guard let live else { continue }
            #expect(live.labels["app.kubernetes.io/managed-by"] == "Helm", "\(o.kind!)/\(o.name!)")
            #expect(live.annotations["meta.helm.sh/release-name"] == r.name && live.annotations["meta.helm.sh/release-namespace"] == r.namespace,
                    "\(o.kind!)/\(o.name!): \(live.annotations)")
        }
        let secret = try await releaseSecret(h, r, revision)
        #expect(secret?["type"] == "helm.sh/release.v1")
        let labels = secret?.labels ?? [:]
        #expect(labels["owner"] == "helm" && labels["name"] == r.name && labels["status"] == "deployed" && labels["version"] == "\(revision)", "\(labels)")
        #expect(secret?[path: ["data", "release"]]?.string?.isEmpty == false)
    }

    func releaseSecret(_ h: MeshHarness, _ r: Release, _ revision: Int) async throws -> JSON? {
        try await get(h, r.cluster, ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string("sh.helm.release.v1.\(r.name).v\(revision)"),
                                                                                        "namespace": .string(r.namespace)]])
    }

    /// The live object for a manifest object (namespaced objects without a namespace are in the release's).
    func get(_ h: MeshHarness, _ cluster: String, _ o: JSON, namespace: String? = nil) async throws -> JSON? {
        let ns = ClusterScopedKinds.contains(o) ? nil : (o.namespace ?? namespace)
        let gvk = GroupVersionKind(apiVersion: o.apiVersion ?? "v1", kind: o.kind ?? "")
        return try await h.withClient(cluster) { try await $0.get(gvk, namespace: ns, name: o.name ?? "") }
    }

    func values(_ h: MeshHarness, _ r: Release) throws -> String {
        let path = h.dir.appendingPathComponent("values-\(r.cluster)-\(r.name)-\(UUID().uuidString).json").path
        try r.values.encoded().write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs tools/helm-client.py; Helm's answer is its stdout, a JSON document. Helm's errors fail the test.
    func helm(_ h: MeshHarness, _ args: [String]) async throws -> JSON {
        let r = try await ChildProcess.run(Self.python!, [Self.tool] + args)
        try #require(r.status == 0, "helm \(args[0]) \(args[3]): exit \(r.status): \(r.stderrText.suffix(3000))")
        return try JSON(data: Data(r.stdout))
    }
}
}
