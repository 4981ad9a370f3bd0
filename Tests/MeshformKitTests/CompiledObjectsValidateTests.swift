import Foundation
import KubeClient
import KubeModel
import Testing
@testable import MeshformKit

/// Every object the compiler emits, checked by code nobody here wrote: the PyPI package kubernetes-validate, the
/// real OpenAPI schemas of Kubernetes 1.25 and later as strict JSON schemas (an unknown field fails, as with
/// fieldValidation=Strict), run by tools/validate-objects.py. The mesh files are the plans/ examples and the
/// guide's three revisions (plans/multi-remote.yaml at each revision's Istio version), compiled with the demo's
/// pre-rendered stand-ins; each is checked against every Kubernetes version its Istio release supports.
@Suite struct CompiledObjectsValidateTests {
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The Kubernetes versions each Istio minor release supports (istio.io/latest/docs/releases/supported-releases:
    /// 1.24 -> 1.28-1.31, 1.21 -> 1.26-1.29). Istio 1.9 supported 1.17-1.20, for which kubernetes-validate ships no
    /// schema: 1.25, the oldest it has, stands in (the objects Meshform writes use APIs stable since 1.16).
    static func kubernetesVersions(istio: String) -> [String] {
        switch IstioVersion(istio)?.parts[1] ?? 0 {
        case 24...: return ["1.28", "1.29", "1.30", "1.31"]
        case 21...23: return ["1.26", "1.27", "1.28", "1.29"]
        default: return ["1.25"]
        }
    }

    @Test(.enabled(if: python != nil && TestPaths.fixturesPresent, "needs python3 with kubernetes-validate (.ci/run installs it) and ../shared/fixtures"))
    func everyCompiledObjectValidatesWithTheRealSchemas() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var meshes: [(name: String, mesh: CompiledMesh)] = []
        for plan in ["demo.yaml", "external-controlplane.yaml", "multi-remote.yaml"] {
            meshes.append(("plans/\(plan)", try await compileWithStandIns(plan)))
        }
        for version in ["1.9.5", "1.21.2", "1.24.0"] {
            let mesh = try await compile("multi-remote.yaml", in: dir) {
                $0.replacingOccurrences(of: "version: 1.24.0", with: "version: \(version)")
            }
            meshes.append(("multi-remote.yaml at Istio \(version)", mesh))
        }
        var lines: [String] = []
        for (name, mesh) in meshes {
            let versions = Self.kubernetesVersions(istio: mesh.topology.istio.version)
            for r in mesh.resources {
                lines.append(JSON.object(["id": .string("\(name): \(r.address)"), "versions": .array(versions.map { .string($0) }),
                                          "object": r.body]).canonicalText)
            }
        }
        let run = try await ChildProcess.run(Self.python!, [TestPaths.root.appendingPathComponent("tools/validate-objects.py").path],
                                             input: Array((lines.joined(separator: "\n") + "\n").utf8))
        try #require(run.status == 0, "tools/validate-objects.py failed (pip install kubernetes-validate): \(run.stderrText.suffix(2000))")
        let report = try JSON(data: Data(run.stdout))
        let failures = report["failures"]?.array ?? []
        let validated = report["validated"]?.int ?? 0
        print("kubernetes-validate \(report["schemas"]?.string ?? ""): \(lines.count) objects from \(meshes.count) mesh files, \(validated) validations passed, \(failures.count) failed; no schema (custom resources): \(report["skipped"]?.canonicalText ?? "")")
        #expect(failures.isEmpty, "\(failures.count) failures; the first ones: \(failures.prefix(5).map { "\($0["id"]?.string ?? "") on \($0["version"]?.string ?? ""): \($0["path"]?.string ?? "") \($0["message"]?.string ?? "")" }.joined(separator: "\n"))")
        // The built-in kinds must be validated, not skipped: only custom resources may lack a schema.
        let skippedKinds = (report["skipped"]?.object ?? [:]).keys
        #expect(skippedKinds.allSatisfy { !$0.hasSuffix(" v1") && !$0.contains(".k8s.io/") && !$0.contains(" apps/") }, "\(skippedKinds.sorted())")
        #expect(validated > lines.count, "too few objects validated: \(validated)")
    }

    /// A copy of a plans/ file with `edit` applied, its relative paths made absolute, compiled with the stand-ins.
    func compile(_ plan: String, in dir: URL, edit: (String) -> String) async throws -> CompiledMesh {
        let text = edit(try String(contentsOfFile: TestPaths.plan(plan), encoding: .utf8))
            .replacingOccurrences(of: "../../shared/", with: TestPaths.root.deletingLastPathComponent().path + "/shared/")
        let path = dir.appendingPathComponent(plan).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let t = try MeshFile.load(path: path, environment: guideEnvironment)
        return try await Compiler(renderer: ManifestDirectoryRenderer(directory: TestPaths.demoManifests)).compile(t)
    }
}
