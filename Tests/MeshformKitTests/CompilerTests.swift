import Foundation
import KubeModel
import Testing
@testable import MeshformKit

@Suite struct CompilerTests {
    /// A stand-in istioctl that behaves as the release it claims: records each invocation's arguments (and the
    /// IstioOperator it was given), refuses a `profile` that release does not have, as the real istioctl does
    /// (`external` exists from 1.11 to 1.21: istio/istio removed it in 1.22, operator/pkg/render/manifest.go), and
    /// prints the real istioctl output fixture, moved to the document's namespace (names suffixed with it) as
    /// istioctl does for a non-default istio namespace.
    static func standInIstioctl(in dir: URL, version: String = "1.24.0", fixture: String = "all-on.yaml") throws -> URL {
        let script = dir.appendingPathComponent("istioctl")
        let minor = IstioVersion(version)!.parts[1]
        let text = """
            #!/bin/sh
            echo "$@" >> "\(dir.path)/calls.log"
            if [ "$1" = "version" ]; then echo "\(version)"; exit 0; fi
            if [ "$1" = "manifest" ] && [ "$2" = "generate" ] && [ "$3" = "-f" ]; then
              profile=$(sed -n 's/^  profile: //p' "$4" | head -1)
              case "$profile" in
                ""|default|demo|minimal|empty|remote|preview) ;;
                external) if [ \(minor) -lt 11 ] || [ \(minor) -ge 22 ]; then
                    echo "Error: generate config: failed to read profile \"external\": profile does not exist" >&2; exit 1; fi ;;
                *) echo "Error: unknown profile $profile" >&2; exit 1 ;;
              esac
              n=$(ls "\(dir.path)" | grep -c '^iop-')
              cp "$4" "\(dir.path)/iop-$n-$(basename "$4")"
              ns=$(sed -n 's/^  namespace: //p' "$4" | head -1)
              out="\(TestPaths.fixtures.path)/istioctl-output/\(fixture)"
              if [ -z "$ns" ] || [ "$ns" = istio-system ]; then cat "$out"
              else sed -e "s/istio-system/$ns/g" -e "s/^  name: istio-sidecar-injector$/  name: istio-sidecar-injector-$ns/" "$out"; fi
              exit 0
            fi
            echo "unexpected arguments: $@" >&2; exit 3
            """
        try text.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        return script
    }

    /// Each form renders with the istioctl of its own releases, and the wrong form is refused: a middle-form
    /// document (`profile: external`) fails with a 1.22+ istioctl and a seed-era one.
    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"),
          arguments: ["1.9.5", "1.21.2", "1.24.0"])
    func eachFormRendersWithItsOwnIstioctl(version: String) async throws {
        let text = try String(contentsOfFile: TestPaths.plan("multi-remote.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "version: 1.24.0", with: "version: \(version)")
        let t = try MeshFile.parse(text: text, path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let own = try Self.standInIstioctl(in: dir, version: version)
        let mesh = try await Compiler(renderer: IstioctlRenderer(path: own.path, expectedVersion: version)).compile(t)
        let calls = try String(contentsOf: dir.appendingPathComponent("calls.log"), encoding: .utf8)
        #expect(mesh.components.count == 7 && calls.components(separatedBy: "manifest generate").count == 8)

        // The middle form handed to a newer or older istioctl (the defect issue 10 found) fails to render.
        let middle = IstioOperatorDocuments.remoteConfigCluster(t, t.configCluster!, address: "istiod.example.com", form: .middle)
        for other in ["1.24.0", "1.10.0"] {
            let d = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: d) }
            let tool = try Self.standInIstioctl(in: d, version: other)
            let c = IstioComponent(kind: .remoteConfigCluster, cluster: "remote1", istioOperator: middle, namespace: "external-istiod",
                                   istioVersion: other, parameters: [:])
            let e = await #expect(throws: RenderError.self) { try await IstioctlRenderer(path: tool.path, expectedVersion: other).render(c) }
            #expect(e?.message.contains("profile does not exist") == true)
        }
    }

    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"))
    func istioctlRendererRunsManifestGeneratePerComponent() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = try Self.standInIstioctl(in: dir)
        let t = try MeshFile.load(path: TestPaths.plan("external-controlplane.yaml"), environment: guideEnvironment)
        let mesh = try await Compiler(renderer: IstioctlRenderer(path: tool.path, expectedVersion: t.istio.version)).compile(t)

        let calls = try String(contentsOf: dir.appendingPathComponent("calls.log"), encoding: .utf8).split(separator: "\n")
        #expect(calls.first == "version --remote=false --short")
        #expect(calls.filter { $0.hasPrefix("version") }.count == 1)
        let generates = calls.dropFirst().map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
        #expect(generates == Array(repeating: "manifest generate -f", count: mesh.components.count))
        #expect(mesh.components.map(\.id) == ["controlplane-gateway@external", "remote-config-cluster@remote1", "external-istiod@external",
                                              "ingress-gateway@remote1", "egress-gateway@remote1"])
        // istioctl was given exactly the IstioOperator documents the compiler wrote.
        let given = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("iop-") }.sorted()
        #expect(given.count == mesh.components.count)
        for (file, c) in zip(given, mesh.components) {
            #expect(file.hasSuffix("\(c.kind.rawValue).yaml"))
            #expect(try YAMLDocuments.parseOne(String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)) == c.istioOperator)
        }
        // The rendered objects became resources on the right clusters.
        let istiod = try #require(mesh.resource(at: ResourceAddress(parsing: "external/apps/Deployment/external-istiod/istiod")))
        #expect(istiod.component == "external-istiod@external")
        #expect(mesh.resource(at: try ResourceAddress(parsing: "remote1/apiextensions.k8s.io/CustomResourceDefinition/_/gateways.networking.istio.io")) != nil)
        #expect(mesh.resources.count > 150)
    }

    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"))
    func istioctlOfAnotherReleaseIsRefused() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = try Self.standInIstioctl(in: dir, version: "1.23.2")
        let t = try MeshFile.load(path: TestPaths.plan("external-controlplane.yaml"), environment: guideEnvironment)
        let error = await #expect(throws: RenderError.self) { try await Compiler(renderer: IstioctlRenderer(path: tool.path, expectedVersion: "1.24.0")).compile(t) }
        #expect(error?.message.contains("is Istio 1.23.2, but the mesh file says istio.version 1.24.0") == true)
        let missing = await #expect(throws: RenderError.self) { try await IstioctlRenderer(path: dir.appendingPathComponent("nope").path, expectedVersion: nil).checkedTool() }
        #expect(missing?.message.contains("istioctl not found") == true)
    }

    @Test func manifestsRendererSubstitutesParametersAndKeepsGoTemplates() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = IstioComponent(kind: .remoteCluster, cluster: "remote2", istioOperator: [:], namespace: "external-istiod",
                               istioVersion: "1.24.0", parameters: ["address": "istiod.example.com", "cluster": "remote2"])
        let r = ManifestDirectoryRenderer(directory: dir.path)
        await #expect { try await r.render(c) } throws: { ($0 as? RenderError)?.message.hasPrefix("no pre-rendered manifest") == true }
        try "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x-{{cluster}}}\ndata: {url: 'https://{{ address }}:15017'}\n"
            .write(to: dir.appendingPathComponent("remote-cluster.yaml"), atomically: true, encoding: .utf8)
        let docs = try await ManifestDirectoryRenderer(directory: dir.path).render(c).documents
        #expect(docs == [["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x-remote2"], "data": ["url": "https://istiod.example.com:15017"]]])
        try "metadata: {name: x}\ndata: {t: '{{ .Values.global.hub }} {{cluster}} {{Template_Check}}'}\n".write(to: dir.appendingPathComponent("remote-cluster.yaml"), atomically: true, encoding: .utf8)
        let kept = try await ManifestDirectoryRenderer(directory: dir.path).render(c).documents
        #expect(kept.first?[path: ["data", "t"]] == "{{ .Values.global.hub }} remote2 {{Template_Check}}")
    }

    /// The manifests renderer parses a file once and fills each cluster's values into the parsed documents (#17): what
    /// it returns must be what parsing the substituted text returns, whatever the values, including values that make
    /// a scalar a number, a bool or null, or empty, or that YAML would read as structure.
    @Test(arguments: [
        ["cluster": "remote7", "network": "network7", "address": "192.0.2.240", "namespace": "istio-system", "revision": "canary",
         "revisionSuffix": "-canary", "revisionPath": "/rev/canary", "meshID": "mesh1", "port": "p15012", "flag": "enabled"],
        ["cluster": "remote7", "network": "network7", "address": "192.0.2.240", "namespace": "istio-system", "revision": "1-25-0",
         "revisionSuffix": "-1-25-0", "revisionPath": "/rev/1-25-0", "meshID": "mesh1", "port": "15012", "flag": "on"],
        ["cluster": "remote7", "network": "15012", "address": "istiod.example.com", "namespace": "true", "revision": "",
         "revisionSuffix": "", "revisionPath": "", "meshID": "null", "port": "-", "flag": "a b"],
        ["cluster": "x: y", "network": "'q'", "address": "a#b", "namespace": "ns", "revision": "yes", "revisionSuffix": "\"",
         "revisionPath": "{a}", "meshID": "[m]", "port": "1.5", "flag": "~"],
    ])
    func manifestsRendererFillsParsedFilesAsParsingTheTextWould(_ parameters: [String: String]) async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tricky = """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: "cm-{{cluster}}", namespace: {{namespace}}, labels: {topology.istio.io/network: {{network}}}}
            data:
              port: {{port}}
              flag: {{flag}}
              rev: '{{revision}}'
              suffix: x{{revisionSuffix}}
              mesh: {{meshID}}
              url: https://{{address}}:15017{{revisionPath}}/inject/:ENV:cluster={{cluster}}:ENV:net={{network}}
              {{cluster}}: a key
              list: [{{port}}, "{{flag}}", {{meshID}}]
              block: |
                network {{network}}
            """
        let demo = try String(contentsOfFile: TestPaths.demoManifests + "/remote-cluster.yaml", encoding: .utf8)
        for text in [tricky, demo] {
            try text.write(to: dir.appendingPathComponent("remote-cluster.yaml"), atomically: true, encoding: .utf8)
            var substituted = text
            for (name, value) in parameters { substituted = substituted.replacingOccurrences(of: "{{\(name)}}", with: value) }
            let c = IstioComponent(kind: .remoteCluster, cluster: "remote7", istioOperator: [:], namespace: "istio-system",
                                   istioVersion: "1.25.0", parameters: parameters)
            let rendered = try? await ManifestDirectoryRenderer(directory: dir.path).render(c)
            let parsed = try? YAMLDocuments.parse(substituted)
            #expect(rendered?.documents == parsed, "\(parameters)")
            #expect(rendered == nil || rendered?.digest == RenderedManifests.digest(of: substituted))
        }
    }

    @Test func helmRendererMapsComponentsToIstioCharts() throws {
        let t = try MeshFile.load(path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
        let helm = HelmRenderer(charts: "/charts", expectedVersion: "1.24.0")
        let comps = Dictionary(uniqueKeysWithValues: IstioOperatorDocuments.components(for: t, address: "istiod.example.com").map { ($0.id, $0) })
        let config = helm.invocations(for: comps["remote-config-cluster@remote1"]!)
        #expect(config.map(\.chart) == ["base", "istiod"])
        #expect(config[0].values == ["profile": "remote", "defaultRevision": "default", "global": ["istioNamespace": "external-istiod"],
                                     "base": ["validationURL": "https://istiod.example.com:15017/validate"]])
        #expect(config[1].values["profile"] == "remote")
        #expect(config[1].values["configMap"] == true && config[1].values["pilot"] == nil)
        #expect(config[1].values[path: ["global", "configCluster"]] == true)
        #expect(config[1].values[path: ["istiodRemote", "injectionURL"]] == "https://istiod.example.com:15017/inject/cluster/remote1/net/network1")
        let remote = helm.invocations(for: comps["remote-cluster@remote2"]!)
        #expect(remote.map(\.chart) == ["base", "istiod"] && remote[0].values["defaultRevision"] == "")
        let istiod = helm.invocations(for: comps["external-istiod@external"]!)
        #expect(istiod.map(\.chart) == ["istiod"] && istiod[0].namespace == "external-istiod")
        #expect(istiod[0].values[path: ["env", "SHARED_MESH_CONFIG"]] == "istio")
        #expect(istiod[0].values[path: ["env", "LOCAL_CLUSTER_SECRET_WATCHER"]] == "true")
        #expect(istiod[0].values[path: ["meshConfig", "rootNamespace"]] == "external-istiod")
        #expect(istiod[0].values["volumes"] == [["name": "config-volume", "configMap": ["name": "istio"]],
                                                 ["name": "inject-volume", "configMap": ["name": "istio-sidecar-injector"]]])
        #expect(istiod[0].values["volumeMounts"] == [["name": "config-volume", "mountPath": "/etc/istio/config"],
                                                      ["name": "inject-volume", "mountPath": "/var/lib/istio/inject"]])
        let ew = helm.invocations(for: comps["eastwest-gateway@remote2"]!)
        #expect(ew.map(\.chart) == ["gateway"] && ew[0].release == "istio-eastwestgateway")
        // Istio's Helm east-west install: networkGateway (the chart adds the network label, view and ports).
        #expect(ew[0].values == ["networkGateway": "network2", "labels": ["istio": "eastwestgateway", "app": "istio-eastwestgateway"],
                                 "env": ["ISTIO_META_ROUTER_MODE": "sni-dnat"]])
        // The control-plane gateway document has no profile: istioctl's default profile, so base and istiod come first.
        let cpGateway = helm.invocations(for: comps["controlplane-gateway@external"]!)
        #expect(cpGateway.map(\.chart) == ["base", "istiod", "gateway"] && cpGateway.allSatisfy { $0.namespace == "istio-system" })
        #expect(cpGateway[2].values[path: ["service", "ports"]]?.array?.compactMap { $0["name"]?.string } == ["status-port", "tls-xds", "tls-webhook"])
        let ingress = helm.invocations(for: comps["ingress-gateway@remote1"]!)
        #expect(ingress == [.init(chart: "gateway", release: "istio-ingressgateway", namespace: "external-istiod", values: [:])])
        // The guide's Helm tab: `helm install istio-egressgateway istio/gateway -n external-istiod --set service.type=ClusterIP`.
        let egress = HelmRenderer.gateway(IstioOperatorDocuments.workloadGateway(t.controlPlane, egress: true, form: .newest)[path: ["spec", "components", "egressGateways"]]![0]!,
                                          egress: true, namespace: "external-istiod")
        #expect(egress == .init(chart: "gateway", release: "istio-egressgateway", namespace: "external-istiod", values: ["service": ["type": "ClusterIP"]]))
    }

    @Test func helmRendererRunsHelmTemplate() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for chart in ["base", "istiod", "gateway"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("charts/\(chart)"), withIntermediateDirectories: true)
            try "name: \(chart)\nversion: 1.24.0\nappVersion: 1.24.0\n".write(to: dir.appendingPathComponent("charts/\(chart)/Chart.yaml"), atomically: true, encoding: .utf8)
        }
        let script = dir.appendingPathComponent("helm")
        try """
            #!/bin/sh
            echo "$1 $2 $(basename $3) $4 $5" >> "\(dir.path)/calls.log"
            printf 'apiVersion: v1\\nkind: ServiceAccount\\nmetadata:\\n  name: %s\\n  namespace: %s\\n' "$2" "$5"
            """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let t = try MeshFile.load(path: TestPaths.plan("external-controlplane.yaml"), environment: guideEnvironment)
        let mesh = try await Compiler(renderer: HelmRenderer(path: script.path, charts: dir.appendingPathComponent("charts").path, expectedVersion: "1.24.0")).compile(t)
        let calls = try String(contentsOf: dir.appendingPathComponent("calls.log"), encoding: .utf8).split(separator: "\n")
        // The control-plane gateway is istioctl's default profile: base, istiod and the gateway, in istio-system.
        #expect(calls.prefix(3) == ["template istio-base base --namespace istio-system", "template istiod istiod --namespace istio-system",
                                    "template istio-ingressgateway gateway --namespace istio-system"])
        #expect(calls.contains("template istiod istiod --namespace external-istiod"))
        #expect(mesh.resource(at: try ResourceAddress(parsing: "external/core/ServiceAccount/istio-system/istio-ingressgateway")) != nil)
        let wrong = HelmRenderer(path: script.path, charts: dir.appendingPathComponent("charts").path, expectedVersion: "1.22.0")
        await #expect { try await Compiler(renderer: wrong).compile(t) }
            throws: { ($0 as? RenderError)?.message.contains("but istio.version is 1.22.0") == true }
    }

    /// A render without the remote secret's ServiceAccount: Meshform creates it with the RBAC istioctl
    /// create-remote-secret --create-service-account applies, so the token it issues can read what istiod reads.
    @Test func serviceAccountMeshformCreatesComesWithItsRBAC() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for kind in IstioComponent.Kind.allCases { try "".write(to: dir.appendingPathComponent("\(kind.rawValue).yaml"), atomically: true, encoding: .utf8) }
        let t = try MeshFile.load(path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
        let mesh = try await Compiler(renderer: ManifestDirectoryRenderer(directory: dir.path)).compile(t)
        for (cluster, sa, role) in [("remote1", "istiod", "istiod-clusterrole-external-istiod"),
                                    ("remote2", "istio-reader-service-account", "istio-reader-clusterrole-external-istiod")] {
            let saAddress = try ResourceAddress(parsing: "\(cluster)/core/ServiceAccount/external-istiod/\(sa)")
            #expect(mesh.resource(at: saAddress) != nil)
            let clusterRole = try #require(mesh.resource(at: try ResourceAddress(parsing: "\(cluster)/rbac.authorization.k8s.io/ClusterRole/_/\(role)")))
            let rules = clusterRole.body["rules"]?.array ?? []
            #expect(rules.contains { $0["resources"]?.array?.contains("endpointslices") == true && $0["verbs"] == ["get", "list", "watch"] })
            let binding = try #require(mesh.resource(at: try ResourceAddress(parsing: "\(cluster)/rbac.authorization.k8s.io/ClusterRoleBinding/_/\(role)")))
            #expect(binding.body[path: ["roleRef", "name"]] == .string(role))
            #expect(binding.body["subjects"] == [["kind": "ServiceAccount", "name": .string(sa), "namespace": "external-istiod"]])
            #expect(binding.dependsOn.contains(saAddress))
        }
    }

    @Test func tlsSecretIsCreatedFromFiles() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "CERT".write(to: dir.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try "KEY".write(to: dir.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        let text = minimalMesh.replacingOccurrences(of: "    secretName: istiod-tls", with: "    secretName: istiod-tls\n    certFile: \(dir.path)/tls.crt\n    keyFile: \(dir.path)/tls.key")
        let mesh = try await Compiler(renderer: ManifestDirectoryRenderer(directory: TestPaths.demoManifests)).compile(try loadMesh(text))
        let s = try #require(mesh.resource(at: try ResourceAddress(parsing: "external/core/Secret/istio-system/istiod-tls")))
        #expect(s.sensitive && s.body["type"] == "kubernetes.io/tls")
        #expect(s.body[path: ["data", "tls.crt"]] == .string(Data("CERT".utf8).base64EncodedString()))
        let halfway = minimalMesh.replacingOccurrences(of: "    secretName: istiod-tls", with: "    secretName: istiod-tls\n    certFile: x.crt")
        #expect(diagnostics(halfway).contains { $0.message.contains("needs both certFile and keyFile") })
    }

    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"))
    func workloadManifestsFollowKubectlSelectorsAndNamespace() async throws {
        let mesh = try await compileWithStandIns("multi-remote.yaml")
        let names = { (cluster: String) in Set(mesh.resources.filter { $0.component?.hasPrefix("workload") == true && $0.address.cluster == cluster }.map(\.address.description)) }
        #expect(names("remote1").contains("remote1/apps/Deployment/sample/helloworld-v1"))
        #expect(!names("remote1").contains("remote1/apps/Deployment/sample/helloworld-v2"))
        #expect(names("remote2").contains("remote2/apps/Deployment/sample/helloworld-v2"))
        #expect(names("remote2").contains("remote2/core/Service/sample/helloworld"))
        #expect(names("remote2").contains("remote2/core/ServiceAccount/sample/sleep"))
    }

    @Test func sameObjectFromTwoSourcesMustAgree() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: istiod, namespace: external-istiod}\nautomountServiceAccountToken: false\n"
            .write(to: dir.appendingPathComponent("sa.yaml"), atomically: true, encoding: .utf8)
        let text = minimalMesh + "\n    manifests: [\(dir.path)/sa.yaml]\n"
        let t = try loadMesh(text.replacingOccurrences(of: "namespace: sample", with: "namespace: external-istiod"))
        await #expect { try await Compiler(renderer: ManifestDirectoryRenderer(directory: TestPaths.demoManifests)).compile(t) }
            throws: { if case CompileError.conflictingObjects(let a, _, _) = $0 { a.description.hasSuffix("/ServiceAccount/external-istiod/istiod") } else { false } }
    }

    /// 1 external + 50 remotes, every component rendered as the real all-on istioctl output, compile to every
    /// object of every component. How long it takes is Benchmarks/CompileBench's to measure (release build), not a
    /// test's: a time bound here measured the machine's load.
    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"))
    func fiftyRemotesCompileToEveryComponentsObjects() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for kind in IstioComponent.Kind.allCases {
            try FileManager.default.copyItem(at: TestPaths.fixtures.appendingPathComponent("istioctl-output/all-on.yaml"), to: dir.appendingPathComponent("\(kind.rawValue).yaml"))
        }
        var text = "mesh: bench\nistio: {version: 1.24.0, renderer: manifests, manifests: \(dir.path)}\nclusters:\n  - {name: external, role: external}\n  - {name: remote1, role: config, gateways: {eastWest: true, ingress: true}}\n"
        for i in 2...50 { text += "  - {name: remote\(i), role: remote, network: network\(i), gateways: {eastWest: true}}\n" }
        text += "controlPlane: {address: gateway-load-balancer, tls: {secretName: istiod-tls}}\n"
        let t = try loadMesh(text)
        let renderer = ManifestDirectoryRenderer(directory: dir.path)
        let mesh = try await Compiler(renderer: renderer).compile(t)
        #expect(mesh.resources.count > 51 * 45)
    }
}
