import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// Every dependency the issue lists, proven on the guide's topology and on the multi-remote one, compiled
/// with the demo's stand-in manifests (the real names, kinds and ports of Istio's components).
@Suite struct GraphTests {
    static let plans = ["external-controlplane.yaml", "multi-remote.yaml"]

    func addr(_ s: String) -> ResourceAddress { try! ResourceAddress(parsing: s) }

    /// `a` depends on `b` directly, and comes after it in the apply order.
    func expectEdge(_ mesh: CompiledMesh, _ a: ResourceAddress, _ b: ResourceAddress, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let r = mesh.resource(at: a)
        #expect(r != nil, "\(a) is missing", sourceLocation: sourceLocation)
        #expect(r?.dependsOn.contains(b) == true, "\(a) does not depend on \(b)", sourceLocation: sourceLocation)
        let order = mesh.resources.map(\.address)
        if let i = order.firstIndex(of: a), let j = order.firstIndex(of: b) {
            #expect(j < i, "\(b) is not applied before \(a)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: plans) func applyOrderRespectsEveryEdge(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        var position: [ResourceAddress: Int] = [:]
        for (i, r) in mesh.resources.enumerated() { position[r.address] = i }
        for r in mesh.resources {
            for d in r.dependsOn { #expect(position[d] != nil && position[d]! < position[r.address]!, "\(r.address) -> \(d)") }
        }
        #expect(mesh.graph.danglingDependencies.isEmpty)
    }

    @Test(arguments: plans) func namespaceBeforeItsObjects(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        var checked = 0
        for r in mesh.resources {
            guard let ns = r.address.namespace, !Compiler.systemNamespaces.contains(ns) else { continue }
            expectEdge(mesh, r.address, ResourceAddress(cluster: r.address.cluster, group: "core", kind: "Namespace", namespace: nil, name: ns))
            checked += 1
        }
        #expect(checked > 20)
        // The remotes' control-plane namespace exists too, as the guide creates it.
        for c in mesh.topology.dataPlaneClusters { #expect(mesh.resource(at: addr("\(c.name)/core/Namespace/_/external-istiod")) != nil) }
        let sample = try #require(mesh.resource(at: addr("remote1/core/Namespace/_/sample")))
        #expect(sample.body.labels["istio-injection"] == "enabled")
    }

    @Test(arguments: plans) func crdEstablishedBeforeItsCustomResources(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        let gwCRD = "apiextensions.k8s.io/CustomResourceDefinition/_/gateways.networking.istio.io"
        expectEdge(mesh, addr("external/networking.istio.io/Gateway/external-istiod/external-istiod-gw"), addr("external/" + gwCRD))
        expectEdge(mesh, addr("external/networking.istio.io/VirtualService/external-istiod/external-istiod-vs"),
                   addr("external/apiextensions.k8s.io/CustomResourceDefinition/_/virtualservices.networking.istio.io"))
        expectEdge(mesh, addr("remote1/networking.istio.io/Gateway/sample/helloworld-gateway"), addr("remote1/" + gwCRD))
        #expect(mesh.resource(at: addr("remote1/" + gwCRD))?.readiness == .established)
        if plan == "multi-remote.yaml" {
            // Newest revision: expose-services on the config cluster only, where istiod reads it.
            expectEdge(mesh, addr("remote1/networking.istio.io/Gateway/external-istiod/cross-network-gateway"), addr("remote1/" + gwCRD))
            #expect(mesh.resource(at: addr("remote2/networking.istio.io/Gateway/external-istiod/cross-network-gateway")) == nil)
        }
    }

    @Test(arguments: plans) func remoteSecretsFollowCreateRemoteSecret(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        for c in mesh.topology.dataPlaneClusters {
            let sa = c.role == .config ? "istiod" : "istio-reader-service-account"
            let token = addr("\(c.name)/core/Secret/external-istiod/\(sa)-istio-remote-secret-token")
            expectEdge(mesh, token, addr("\(c.name)/core/ServiceAccount/external-istiod/\(sa)"))
            let t = try #require(mesh.resource(at: token))
            #expect(t.readiness == .tokenPopulated && t.sensitive)
            #expect(t.body["type"] == "kubernetes.io/service-account-token")
            #expect(t.body.annotations["kubernetes.io/service-account.name"] == sa)

            let name = c.role == .config ? "istio-kubeconfig" : "istio-remote-secret-\(c.name)"
            let key = c.role == .config ? "config" : c.name
            let secretAddress = addr("external/core/Secret/external-istiod/\(name)")
            expectEdge(mesh, secretAddress, token)
            expectEdge(mesh, secretAddress, addr("external/core/Namespace/_/external-istiod"))
            let s = try #require(mesh.resource(at: secretAddress))
            #expect(s.sensitive)
            #expect(s.body.labels["istio/multiCluster"] == "true")
            #expect(s.body.annotations["networking.istio.io/cluster"] == c.name)
            let computed = try #require(s.computed.first)
            #expect(s.body[path: ["stringData", key]]?.string == computed.placeholder)
            #expect(computed.producer == token)
            #expect(computed.source == .remoteKubeconfig(clusterName: c.name, remoteCluster: c.name))
            #expect(s.body["data"] == nil)
        }
    }

    @Test(arguments: plans) func configClusterCRDsAndMeshConfigBeforeIstiod(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        let istiod = addr("external/apps/Deployment/external-istiod/istiod")
        #expect(mesh.resource(at: istiod)?.readiness == .available)
        for crd in ["gateways", "virtualservices", "destinationrules"] {
            expectEdge(mesh, istiod, addr("remote1/apiextensions.k8s.io/CustomResourceDefinition/_/\(crd).networking.istio.io"))
        }
        expectEdge(mesh, istiod, addr("remote1/core/ConfigMap/external-istiod/istio"))
        expectEdge(mesh, istiod, addr("external/core/Secret/external-istiod/istio-kubeconfig"))
    }

    @Test(arguments: plans) func istiodAvailableBeforeAnyRemoteWebhook(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        let webhooks = mesh.resources.filter {
            $0.address.cluster != "external" && ($0.address.kind == "MutatingWebhookConfiguration" || $0.address.kind == "ValidatingWebhookConfiguration")
        }
        #expect(webhooks.count == (plan == "multi-remote.yaml" ? 3 : 2))
        for w in webhooks {
            expectEdge(mesh, w.address, addr("external/apps/Deployment/external-istiod/istiod"))
            expectEdge(mesh, w.address, addr("external/networking.istio.io/VirtualService/external-istiod/external-istiod-vs"))
            expectEdge(mesh, w.address, addr("external/apps/Deployment/istio-system/istio-ingressgateway"))
            expectEdge(mesh, w.address, addr("external/core/Service/istio-system/istio-ingressgateway"))
            #expect(w.ignoreFields.contains("webhooks[*].clientConfig.caBundle") && w.ignoreFields.contains("webhooks[*].failurePolicy"))
        }
        // Pods on a remote are created only once its injection webhook is in place.
        expectEdge(mesh, addr("remote1/apps/Deployment/sample/helloworld-v1"),
                   addr("remote1/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
        expectEdge(mesh, addr("remote1/apps/Deployment/external-istiod/istio-ingressgateway"),
                   addr("remote1/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
    }

    /// A TLS Secret Meshform makes from certFile/keyFile exists before any remote webhook (the gate checks it live).
    @Test func gatewayTLSSecretMadeByMeshformBeforeAnyRemoteWebhook() async throws {
        let t = try MeshFile.load(path: TestPaths.plan("demo.yaml"), environment: guideEnvironment)
        let mesh = try await Compiler(renderer: ManifestDirectoryRenderer(directory: TestPaths.demoManifests)).compile(t)
        let secret = addr("external/core/Secret/istio-system/external-istiod-tls")
        #expect(mesh.resource(at: secret)?.sensitive == true)
        let webhooks = mesh.resources.filter { ReachabilityGate.guards($0, in: t) }
        #expect(webhooks.count == 3)
        for w in webhooks { expectEdge(mesh, w.address, secret) }
        // The gate guards the data-plane clusters' webhooks only.
        #expect(!mesh.resources.contains { ReachabilityGate.guards($0, in: t) && $0.address.cluster == "external" })
    }

    @Test(arguments: plans) func gatewayAddressBeforeEverythingThatNamesIt(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan, address: MeshFile.gatewayLoadBalancerWord)
        let service = addr("external/core/Service/istio-system/istio-ingressgateway")
        #expect(mesh.resource(at: service)?.readiness == .loadBalancerAddress)
        let placeholder = GlueObjects.addressPlaceholder
        let naming = mesh.resources.filter { Compiler.contains(placeholder, in: $0.body) }
        #expect(naming.count >= 5)
        for r in naming {
            expectEdge(mesh, r.address, service)
            #expect(r.computed.contains(ComputedValue(placeholder: placeholder, producer: service, source: .loadBalancerAddress)))
        }
        let names = Set(naming.map(\.address.description))
        #expect(names.contains("external/apps/Deployment/external-istiod/istiod"))
        #expect(names.contains("remote1/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
        #expect(names.contains("remote1/core/ConfigMap/external-istiod/istio"))
        // With a hostname nothing waits for the load balancer.
        let named = try await compileWithStandIns(plan)
        #expect(named.resources.allSatisfy { $0.computed.allSatisfy { $0.source != .loadBalancerAddress } })
    }

    @Test(arguments: plans) func sameFileGivesByteIdenticalOutput(plan: String) async throws {
        let a = try await compileWithStandIns(plan), b = try await compileWithStandIns(plan)
        #expect(a.resources.map(\.address) == b.resources.map(\.address))
        #expect(a.resources.map { $0.body.encoded() } == b.resources.map { $0.body.encoded() })
        #expect(a.graph.dot() == b.graph.dot())
        #expect(a.configHash == b.configHash)
        let c = try await compileWithStandIns(plan, address: "other.example.com")
        #expect(c.configHash != a.configHash)
    }

    @Test(arguments: plans) func everyObjectCarriesTheOwnershipLabels(plan: String) async throws {
        let mesh = try await compileWithStandIns(plan)
        for r in mesh.resources {
            #expect(r.body.labels["app.kubernetes.io/managed-by"] == "meshform")
            #expect(r.body.labels["meshform.dev/mesh"] == mesh.topology.name)
            if r.address.kind == "Secret" { #expect(r.sensitive) }
        }
        let protected = plan == "external-controlplane.yaml"  // its lifecycle.preventDestroy names this namespace
        #expect(mesh.resource(at: addr("external/core/Namespace/_/external-istiod"))?.preventDestroy == protected)
        #expect(mesh.resource(at: addr("remote1/core/Namespace/_/external-istiod"))?.preventDestroy == false)
    }

    @Test func cycleIsReportedWithEveryMember() throws {
        let a = addr("c/core/ConfigMap/ns/a"), b = addr("c/core/ConfigMap/ns/b"), c = addr("c/core/ConfigMap/ns/c")
        let graph = ResourceGraph(resources: [
            Resource(address: a, body: [:], dependsOn: [b]), Resource(address: b, body: [:], dependsOn: [c]),
            Resource(address: c, body: [:], dependsOn: [a]), Resource(address: addr("c/core/ConfigMap/ns/d"), body: [:], dependsOn: [a]),
        ])
        #expect(throws: GraphCycleError(cycles: [[a, b, c]])) { try graph.topologicalOrder() }
        #expect(GraphCycleError(cycles: [[a, b, c]]).description.contains("c/core/ConfigMap/ns/a -> c/core/ConfigMap/ns/b -> c/core/ConfigMap/ns/c -> c/core/ConfigMap/ns/a"))
    }

    @Test func orderTearsDownInReverse() async throws {
        let mesh = try await compileWithStandIns("external-controlplane.yaml")
        let reverse = try mesh.graph.reverseOrder()
        #expect(reverse == mesh.resources.map(\.address).reversed())
        let ns = addr("external/core/Namespace/_/external-istiod")
        #expect(mesh.graph.dependents(of: ns).contains(addr("external/apps/Deployment/external-istiod/istiod")))
        #expect(mesh.graph.ancestors(of: addr("remote1/apps/Deployment/sample/helloworld-v1")).contains(addr("external/apps/Deployment/external-istiod/istiod")))
    }

    @Test func addressesParseAndPrint() throws {
        let a = try ResourceAddress(parsing: "remote1/networking.istio.io/Gateway/external-istiod/external-istiod-gw")
        #expect(a.group == "networking.istio.io" && a.namespace == "external-istiod")
        #expect(try ResourceAddress(parsing: "external/core/Namespace/_/external-istiod").namespace == nil)
        #expect(ResourceAddress(cluster: "x", group: "", kind: "Secret", namespace: "n", name: "s").description == "x/core/Secret/n/s")
        #expect(throws: AddressError.malformed("a/b/c")) { try ResourceAddress(parsing: "a/b/c") }
        #expect(a.gvk(version: "v1").apiVersion == "networking.istio.io/v1")
        let data = try JSONEncoder().encode([a])
        #expect(try JSONDecoder().decode([ResourceAddress].self, from: data) == [a])
    }

    @Test func dotHasClustersAsSubgraphs() async throws {
        let dot = try await compileWithStandIns("multi-remote.yaml").graph.dot(title: "guide-multi")
        #expect(dot.hasPrefix("digraph \"guide-multi\" {"))
        for c in ["external", "remote1", "remote2"] { #expect(dot.contains("label=\"\(c)\";")) }
        #expect(dot.contains("\"remote1/core/Secret/external-istiod/istiod-istio-remote-secret-token\" -> \"remote1/core/ServiceAccount/external-istiod/istiod\";"))
    }

    @Test(.enabled(if: ExternalTool.locate("dot") != nil, "graphviz (dot) is not installed"))
    func dotRendersToPNG() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dotFile = dir.appendingPathComponent("graph.dot"), png = dir.appendingPathComponent("graph.png")
        try await compileWithStandIns("multi-remote.yaml").graph.dot().write(to: dotFile, atomically: true, encoding: .utf8)
        let r = try await ExternalTool.run(ExternalTool.locate("dot")!, ["-Tpng", dotFile.path, "-o", png.path])
        #expect(r.status == 0, "\(r.stderrText)")
        let bytes = try Data(contentsOf: png)
        #expect(bytes.count > 10_000)
        #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }
}
