import Crypto
import Foundation
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// Input whose size decides depth or work, and errors that must point at their line (issue 13).
@Suite struct HostileInputTests {
    static let demo = (try? String(contentsOfFile: TestPaths.plan("demo.yaml"), encoding: .utf8)) ?? ""

    /// plans/demo.yaml with `workloads:` replaced by `workloads`.
    static func demo(workloads: String) -> String {
        let head = demo.components(separatedBy: "\nworkloads:")[0]
        return head.replacingOccurrences(of: "manifests: demo", with: "manifests: \(TestPaths.demoManifests)")
            .replacingOccurrences(of: "File: demo/", with: "File: \(TestPaths.demoManifests)/") + "\nworkloads:\n" + workloads
    }

    func refusal(_ text: String, file: String = "/tmp/mesh.yaml") throws -> MeshFileError {
        do { _ = try MeshFile.parse(text: text, path: file, environment: guideEnvironment) } catch let e as MeshFileError { return e }
        Issue.record("expected the mesh file to be refused")
        throw CancellationError()
    }

    @Test func aDependsOnChainOfTenThousandWorkloadsValidatesAndCompiles() async throws {
        let n = 10_000
        let items = (0..<n).map { "  - {name: w\($0), cluster: config\($0 + 1 < n ? ", dependsOn: [w\($0 + 1)]" : "")}" }
        let t = try loadMesh(Self.demo(workloads: items.joined(separator: "\n")))
        #expect(t.workloads.count == n)
        let mesh = try await Compiler(renderer: Compiler.renderer(for: t)).compile(t)
        let order = try mesh.graph.topologicalOrder()
        #expect(order.count == mesh.resources.count)

        // The same chain closed into a cycle: found, reported once, at the first workload's dependsOn.
        var cyclic = items
        cyclic[n - 1] = "  - {name: w\(n - 1), cluster: config, dependsOn: [w0]}"
        let e = try refusal(Self.demo(workloads: cyclic.joined(separator: "\n")))
        #expect(e.diagnostics.count == 1)
        #expect(e.diagnostics[0].message.contains("cycle: w0 -> w1 -> w2"))
        #expect(e.description.utf8.count < 2000, "the cycle's message must not list 10,000 names in full")
    }

    @Test func destroyOrderWalksALongChainWithoutRecursion() {
        let n = 50_000
        let objects = (0..<n).map { i in
            ManagedObject(address: "c/core/ConfigMap/ns/cm\(i)", cluster: "c", apiVersion: "v1", kind: "ConfigMap", namespace: "ns",
                          name: "cm\(i)", applied: ["kind": "ConfigMap"], dependencies: i + 1 < n ? ["c/core/ConfigMap/ns/cm\(i + 1)"] : [])
        }
        let order = DestroyOrder.sorted(objects.shuffled()).map(\.address)
        #expect(order.count == n)
        #expect(order.first == "c/core/ConfigMap/ns/cm0")   // it depends on everything: deleted first
        #expect(order.last == "c/core/ConfigMap/ns/cm\(n - 1)")
    }

    @Test func billionLaughsUnderIstiodValuesIsRefusedAtItsLine() throws {
        var bomb = ["      lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1...9 { bomb.append("      lol\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 9).joined(separator: ", ") + "]") }
        let text = Self.demo(workloads: "  []").replacingOccurrences(
            of: "controlPlane:\n", with: "controlPlane:\n  istiod:\n    values:\n" + bomb.joined(separator: "\n") + "\n")
        let e = try refusal(text)
        #expect(e.diagnostics.count == 1)
        let d = e.diagnostics[0]
        #expect(d.message.contains("excessive aliasing"), "\(d)")
        let line = text.components(separatedBy: "\n")[d.location.line - 1]
        #expect(line.contains("*l"), "the error points at an alias line: \(line)")

        // The same bomb as a mapping key (Yams hashes keys while composing): refused before composing.
        let asKey = text.replacingOccurrences(of: "      lol9:", with: "      ? [*l8, *l8]\n      : x\n      lol9:")
        #expect(try refusal(asKey).diagnostics[0].message.contains("excessive aliasing"))

        // Aliases in moderation are YAML, and are fine.
        let modest = Self.demo(workloads: "  []").replacingOccurrences(
            of: "controlPlane:\n", with: "controlPlane:\n  istiod:\n    values:\n      a: &r {cpu: 500m}\n      b: *r\n")
        let t = try loadMesh(modest)
        #expect(t.controlPlane.istiodValues["b"]?["cpu"] == "500m")
    }

    @Test func sizeAndDepthLimitsAreErrorsWithALine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big.yaml").path
        try (Self.demo + "\n# " + String(repeating: "x", count: 2 << 20) + "\n").write(toFile: big, atomically: true, encoding: .utf8)
        let e = #expect(throws: MeshFileError.self) { try MeshFile.load(path: big, environment: guideEnvironment) }
        #expect(e?.description.hasPrefix("\(big):1:1: error: the mesh file is 2.0 MiB; the limit is 1.0 MiB") == true)

        let deep = Self.demo(workloads: "  []") + "\nlifecycle: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
        let d = try refusal(deep).diagnostics[0]
        #expect(d.message.contains("nests more than 64 levels"))
        #expect(d.location.line == deep.components(separatedBy: "\n").count - 1)
    }

    @Test func aFieldWrittenTwiceIsReportedAtTheSecondWithoutTheFile() throws {
        let text = Self.demo.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.24.0\n  renderer: manifests\n  version: 1.25.0\n")
        let e = try refusal(text, file: "plans/demo.yaml")
        #expect(e.diagnostics.count == 1)
        let lines = text.components(separatedBy: "\n")
        let second = lines.lastIndex { $0.hasPrefix("  version:") }! + 1
        let first = lines.firstIndex { $0.hasPrefix("  version:") }! + 1
        #expect(e.description.hasPrefix("plans/demo.yaml:\(second):3: error: field 'istio.version' is written twice (first at line \(first))"), "\(e)")
        #expect(!e.description.contains("clusters:"), "the message must not print the file")

        // In a list item, with its path.
        let inList = Self.demo.replacingOccurrences(of: "    namespace: sample\n    manifests:", with: "    namespace: sample\n    namespace: other\n    manifests:")
        #expect(try refusal(inList).diagnostics[0].message.hasPrefix("field 'workloads[0].namespace' is written twice"))
    }

    @Test func unknownDependsOnTargetAndTopLevelListAreLocated() throws {
        let text = Self.demo(workloads: "  - name: a\n    cluster: config\n    dependsOn: [b, nope]\n  - {name: b, cluster: config}\n")
        let e = try refusal(text, file: "m.yaml")
        let lines = text.components(separatedBy: "\n")
        let line = lines.firstIndex { $0.contains("dependsOn: [b, nope]") }! + 1
        let column = lines[line - 1].utf8.count - "nope]".utf8.count + 1
        #expect(e.description.hasPrefix("m.yaml:\(line):\(column): error: workload 'a' depends on 'nope', which is not a workload here"), "\(e)")

        let list = try refusal("- mesh: demo\n- clusters: []\n", file: "list.yaml")
        #expect(list.description.hasPrefix("list.yaml:1:1: error: the mesh file must be a mapping (key: value lines), found a list"), "\(list)")
    }

    @Test func manifestsGetTheSameGuardWithLines() throws {
        let twice = #expect(throws: YAMLInputError.self) { try YAMLDocuments.parse("metadata:\n  name: a\n  name: b\n") }
        #expect(twice?.description == "line 3, column 3: 'metadata.name' is written twice (first at line 2)")
        #expect(twice?.duplicate == .init(path: "metadata.name", firstLine: 2))
        let bomb = (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + (1...8).map { "a\($0): &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 10).joined(separator: ", ") + "]" })
            .joined(separator: "\n")
        let e = #expect(throws: YAMLInputError.self) { try YAMLDocuments.parse("kind: ConfigMap\ndata:\n" + bomb.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
        #expect(e?.message.contains("excessive aliasing") == true)
        #expect((e?.line ?? 0) > 2)
        // Kubeconfigs go through it too.
        #expect(throws: (any Error).self) { try YAMLDocuments.parseOne("users:\n- name: a\n  name: b\n") }
    }

    @Test func aBadWorkloadManifestIsReportedAtItsFileLineAndColumn() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = dir.appendingPathComponent("app.yaml").path
        try "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n".write(toFile: manifest, atomically: true, encoding: .utf8)
        let t = try loadMesh(Self.demo(workloads: "  - {name: app, cluster: config, manifests: [\(manifest)]}\n"))
        let e = await #expect(throws: CompileError.self) { try await Compiler(renderer: Compiler.renderer(for: t)).compile(t) }
        #expect(e?.description == "\(manifest):5:3: error: 'metadata.name' is written twice (first at line 4) (the manifest of workload app)")
    }

    @Test func theManifestCacheHoldsNoSecretDataAndIsPrivate() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache/meshform/manifests")
        let padding = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: pad}\ndata:\n  pad: \"" + String(repeating: "p", count: 70_000) + "\"\n"
        let canary = "CANARY-\(UUID().uuidString)"
        let secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\nstringData:\n  token: \(canary)\n"
        let withSecret = padding + secret
        #expect(try ParsedManifestCache.documents(withSecret, in: cache).count == 2)
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
        #expect(cached.isEmpty, "a text with Secret data is not cached: \(cached)")

        // Without the Secret's data it is cached, 0600 in 0700 directories.
        let plain = padding + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: token-only, namespace: n}\ntype: kubernetes.io/service-account-token\n"
        #expect(try ParsedManifestCache.documents(plain, in: cache).count == 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(files.count == 1)
        #expect(fileMode(cache.appendingPathComponent(files[0]).path) == 0o600)
        for d in [cache, cache.deletingLastPathComponent(), cache.deletingLastPathComponent().deletingLastPathComponent()] {
            #expect(fileMode(d.path) == 0o700, "\(d.path)")
        }
        #expect(try ParsedManifestCache.documents(plain, in: cache).count == 2)   // read back from the cache
    }

    /// A text parsed by older rules is not read back: the cache's file names carry the rules' number. Here a file as
    /// the first rules named it (the text's hash alone) says `y:` is the key "y"; kubectl sends "true".
    @Test func theManifestCacheDoesNotReadBackWhatOlderRulesParsed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  y: \"" + String(repeating: "p", count: 70_000) + "\"\n"
        let key = Hex.encode(SHA256.hash(data: Data(text.utf8)))
        var old = try YAMLDocuments.parseOne(text)
        old["data"] = ["y": "p"]
        try JSON.array([old]).encoded().write(to: cache.appendingPathComponent(key + ".json"))
        let docs = try ParsedManifestCache.documents(text, in: cache)
        #expect(docs.first?[path: ["data", "true"]]?.string?.count == 70_000 && docs.first?[path: ["data", "y"]] == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).contains("v\(ParsedManifestCache.rules)-\(key).json"))
    }

    @Test func savedPlansAndPrivateFilesAreOwnerOnly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("new/sub/mesh.plan").path
        try PrivateFile.write("plan", to: path)
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(dir.appendingPathComponent("new").path) == 0o700)
        #expect(fileMode(dir.appendingPathComponent("new/sub").path) == 0o700)
        try PrivateFile.write("again", to: path)   // replaced atomically, still private, no temporary left behind
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "again")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("new/sub").path) == ["mesh.plan"])
        #expect(fileMode(path) == 0o600)
        // A mode the user set on purpose (a metrics file node_exporter reads) is kept.
        chmod(path, 0o644)
        try PrivateFile.write("metrics", to: path)
        #expect(fileMode(path) == 0o644)
    }
}

func fileMode(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int ?? -1) & 0o777
}
