import Foundation
import Testing
import KubeModel
@testable import MeshformKit

@Suite struct MeshFileTests {
    @Test func guidePlanLoadsWithTheGuidesVariables() throws {
        let t = try MeshFile.load(path: TestPaths.plan("external-controlplane.yaml"), environment: guideEnvironment)
        #expect(t.name == "guide")
        #expect(t.externalCluster.context == "kind-external")
        #expect(t.configCluster?.name == "remote1")
        #expect(t.configCluster?.context == "kind-remote1")
        #expect(t.controlPlane.address == .hostname("istiod.example.com"))
        #expect(t.controlPlane.tls.secretName == "external-istiod-tls")
        #expect(t.controlPlane.gateway.ports.map(\.port) == [15021, 15012, 15017])
        #expect(t.istio.renderer == .istioctl(path: nil))
        let hello = try #require(t.workloads.first { $0.name == "helloworld" })
        #expect(hello.manifests.map(\.selector) == ["service=helloworld", "version=v1"])
        #expect(hello.manifests[0].path.hasSuffix("shared/fixtures/istio/samples/helloworld.yaml"))
        #expect(!hello.manifests[0].path.contains(".."))
    }

    @Test func multiRemoteAndDemoPlansLoad() throws {
        let multi = try MeshFile.load(path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
        #expect(multi.clusters.map(\.role) == [.external, .config, .remote])
        #expect(multi.clusters[2].network == "network2")
        #expect(multi.clusters.allSatisfy { $0.role == .external || $0.gateways.eastWest })
        let demo = try MeshFile.load(path: TestPaths.plan("demo.yaml"), environment: [:])
        #expect(demo.controlPlane.address == .gatewayLoadBalancer)
        #expect(demo.istio.renderer == .manifests(directory: TestPaths.demoManifests))
        #expect(demo.clusters.map(\.context) == ["external", "config", "remote2"])
    }

    /// `server:` is the address written into a remote secret (istioctl's --server); anything but an https URL is
    /// reported where it is written.
    @Test func clusterServerOverride() throws {
        let ok = try loadMesh(minimalMesh.replacingOccurrences(of: "    role: config", with: "    role: config\n    server: https://10.0.0.12:6443"))
        #expect(ok.configCluster?.server == "https://10.0.0.12:6443")
        #expect(ok.externalCluster.server == nil)
        for bad in ["10.0.0.12:6443", "http://10.0.0.12:6443", "https://", "https://h:6443/?x=1"] {
            let d = diagnostics(minimalMesh.replacingOccurrences(of: "    role: config", with: "    role: config\n    server: \"\(bad)\""))
            let e = try #require(d.first, "\(bad)")
            #expect(d.count == 1)
            #expect(e.message == "clusters[1].server '\(bad)' is not an API server address")
            #expect(e.location.line == 9 && e.location.column == 13)
            #expect(e.fix.contains("https://"))
        }
    }

    /// The IP-address variant is the newest revision's; with an older Istio it is refused at the address.
    @Test func ipAddressNeedsTheNewestForm() throws {
        for address in ["203.0.113.7", "gateway-load-balancer"] {
            let text = minimalMesh.replacingOccurrences(of: "address: istiod.example.com", with: "address: \(address)")
            #expect(diagnostics(text).isEmpty)
            let d = diagnostics(text.replacingOccurrences(of: "version: 1.24.0", with: "version: 1.21.2"))
            let e = try #require(d.first)
            #expect(d.count == 1 && e.message.contains("needs Istio 1.22 or later") && e.message.contains("1.21.2"))
            #expect(e.location.line == 10 && e.location.column == 12)
        }
        #expect(diagnostics(minimalMesh.replacingOccurrences(of: "version: 1.24.0", with: "version: 1.9.5")).isEmpty)
    }

    @Test func unsetVariableIsNamedAtItsValue() {
        var env = guideEnvironment
        env["REMOTE_CLUSTER_NAME"] = nil
        let d = diagnostics((try? String(contentsOfFile: TestPaths.plan("external-controlplane.yaml"), encoding: .utf8)) ?? "", environment: env)
        #expect(!d.isEmpty)
        #expect(d.allSatisfy { $0.message.contains("${REMOTE_CLUSTER_NAME}") && $0.fix.contains("export REMOTE_CLUSTER_NAME") })
        #expect(d.first?.location.line == 15)
        #expect(d.first?.location.column == 11)
    }

    @Test func unknownFieldNamesLineColumnAndSuggestion() throws {
        let d = diagnostics(minimalMesh.replacingOccurrences(of: "    role: config", with: "    role: config\n    netwrok: network1"))
        let e = try #require(d.first)
        #expect(d.count == 1)
        #expect(e.message == "unknown field 'netwrok' in clusters[1]")
        #expect(e.fix.contains("did you mean 'network'?"))
        #expect(e.location.line == 9 && e.location.column == 5)
        #expect(e.location.file.hasSuffix("mesh.yaml"))
        #expect(e.description.contains("mesh.yaml:9:5: error:"))
    }

    @Test func handshakeCheckIsOnUnlessTheMeshFileTurnsItOff() throws {
        #expect(try loadMesh(minimalMesh).controlPlane.tls.checkHandshake)
        let off = minimalMesh.replacingOccurrences(of: "    secretName: istiod-tls", with: "    secretName: istiod-tls\n    checkHandshake: false")
        #expect(try loadMesh(off).controlPlane.tls.checkHandshake == false)
        let bad = diagnostics(minimalMesh.replacingOccurrences(of: "    secretName: istiod-tls", with: "    secretName: istiod-tls\n    checkHandshake: maybe"))
        let e = try #require(bad.first)
        #expect(e.message.contains("controlPlane.tls.checkHandshake must be true or false"), "\(e.message)")
        #expect(e.location.line == 13)
    }

    @Test func wrongTypeIsReported() throws {
        let d = diagnostics(minimalMesh.replacingOccurrences(of: "    role: config", with: "    role: config\n    gateways:\n      ingress: sometimes"))
        let e = try #require(d.first)
        #expect(e.message.contains("clusters[1].gateways.ingress must be true or false"))
        #expect(e.location.line == 10 && e.location.column == 16)
        let list = diagnostics(minimalMesh.replacingOccurrences(of: "clusters:\n", with: "clusters: three\nx:\n"))
        #expect(list.contains { $0.message.contains("clusters must be a list") })
    }

    @Test func duplicateNamesAreReported() throws {
        let text = minimalMesh.replacingOccurrences(of: "  - name: remote1\n    role: config", with: "  - name: remote1\n    role: config\n  - name: remote1\n    role: remote")
        let e = try #require(diagnostics(text).first)
        #expect(e.message.contains("cluster name 'remote1' is used twice"))
        #expect(e.location.line == 9 && e.location.column == 11)
        let workloads = minimalMesh + "\n  - name: sleep\n    cluster: remote1\n"
        #expect(diagnostics(workloads).contains { $0.message.contains("workload name 'sleep' is used twice") })
    }

    @Test func secondConfigClusterIsRefused() throws {
        let text = minimalMesh.replacingOccurrences(of: "  - name: remote1\n    role: config", with: "  - name: remote1\n    role: config\n  - name: remote2\n    role: config")
        let e = try #require(diagnostics(text).first)
        #expect(e.message.contains("a second config cluster ('remote2')"))
        #expect(e.fix.contains("role: remote"))
        #expect(e.location.line == 10 && e.location.column == 11)
    }

    @Test func workloadOnUnknownClusterIsRefused() throws {
        let e = try #require(diagnostics(minimalMesh.replacingOccurrences(of: "cluster: remote1", with: "cluster: remote-1")).first)
        #expect(e.message.contains("names cluster 'remote-1', which the mesh does not have"))
        #expect(e.fix.contains("did you mean 'remote1'?"))
        #expect(e.location.line == 15 && e.location.column == 14)
    }

    @Test func invalidDNS1123NameIsRefused() throws {
        let e = try #require(diagnostics(minimalMesh.replacingOccurrences(of: "namespace: sample", with: "namespace: Sample_NS")).first)
        #expect(e.message.contains("'Sample_NS' is not a valid DNS-1123 label"))
        #expect(e.fix.contains("'sample-ns'"))
        #expect(e.location.line == 16)
        let cluster = try #require(diagnostics(minimalMesh.replacingOccurrences(of: "name: remote1", with: "name: Remote.One").replacingOccurrences(of: "cluster: remote1", with: "cluster: Remote.One")).first)
        #expect(cluster.message.contains("cluster name 'Remote.One'"))
    }

    @Test func workloadDependsOnCycleIsRefused() throws {
        let text = minimalMesh + """

            dependsOn: [web]
          - name: web
            cluster: remote1
            dependsOn: [sleep]
        """
        let d = diagnostics(text)
        let e = try #require(d.first { $0.message.contains("cycle") })
        #expect(e.message.contains("sleep -> web -> sleep"))
        #expect(e.location.line == 17)
    }

    @Test func yamlSyntaxErrorHasLocation() throws {
        let e = try #require(diagnostics("mesh: x\nclusters:\n  - name: a\n   role: b\n").first)
        #expect(e.message.contains("not valid YAML"))
        #expect(e.location.line == 4)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let text = minimalMesh.replacingOccurrences(of: "    role: config", with: "    role: config\n    colour: blue")
            .replacingOccurrences(of: "version: 1.24.0", with: "version: 1.24.0\n  flavour: x")
        #expect(diagnostics(text).count == 2)
    }

    @Test func labelSelectorsFollowKubectl() throws {
        let s = try #require(LabelSelector("app=helloworld,version!=v2"))
        #expect(s.matches(["app": "helloworld", "version": "v1"]))
        #expect(!s.matches(["app": "helloworld", "version": "v2"]))
        #expect(try #require(LabelSelector("service")).matches(["service": "helloworld"]))
        #expect(LabelSelector("a b=c") == nil)
        #expect(try #require(LabelSelector("version = v1")).matches(["version": "v1"]))   // spaces, as labels.Parse allows
    }

    /// A workload's selector is read as kubectl -l reads it; one kubectl refuses is an error naming why, and one that
    /// selects everything is an error too (LabelSelectorTests compares the parser with the real kubectl).
    @Test func aWorkloadSelectorKubectlRefusesIsAnError() {
        for (selector, why) in [("version=v1=v2", "found '='"), ("version in (v1", "expected: ',' or ')'"), (" ", "selects everything")] {
            let text = minimalMesh + "\n    manifests:\n      - {path: sleep.yaml, selector: '\(selector)'}\n"
            let found = diagnostics(text).map(\.message)
            #expect(found.contains { $0.contains(why) }, "\(selector): \(found)")
        }
        let fine = minimalMesh + "\n    manifests:\n      - {path: sleep.yaml, selector: 'version in (v1, v2)'}\n"
        #expect(!diagnostics(fine).contains { $0.message.contains("selector") }, "\(diagnostics(fine))")
    }
}
