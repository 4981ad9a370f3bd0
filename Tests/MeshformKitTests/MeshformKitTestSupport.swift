import Foundation
import KubeModel
@testable import MeshformKit

/// Paths and inputs shared by the MeshformKit tests.
enum TestPaths {
    /// The package root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("../shared/fixtures/istio").standardizedFileURL
    static let guide = root.appendingPathComponent("../shared/guide").standardizedFileURL
    static let plans = root.appendingPathComponent("plans")
    static let demoManifests = plans.appendingPathComponent("demo").path

    static var fixturesPresent: Bool { FileManager.default.fileExists(atPath: fixtures.appendingPathComponent("istioctl-output/all-on.yaml").path) }
    static var guidePresent: Bool { FileManager.default.fileExists(atPath: guide.appendingPathComponent("external-controlplane.seed.zh.md").path) }

    static func plan(_ name: String) -> String { plans.appendingPathComponent(name).path }
}

/// The guide's environment variables, as a user following it would export them.
let guideEnvironment = [
    "CTX_EXTERNAL_CLUSTER": "kind-external", "CTX_REMOTE_CLUSTER": "kind-remote1", "REMOTE_CLUSTER_NAME": "remote1",
    "EXTERNAL_ISTIOD_ADDR": "istiod.example.com", "SSL_SECRET_NAME": "external-istiod-tls",
    "CTX_SECOND_CLUSTER": "kind-remote2", "SECOND_CLUSTER_NAME": "remote2",
]

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("meshform-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Writes `text` as a mesh file in a temp dir and loads it.
func loadMesh(_ text: String, environment: [String: String] = guideEnvironment, name: String = "mesh.yaml") throws -> MeshTopology {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return try MeshFile.load(path: path, environment: environment)
}

/// The diagnostics a broken mesh file gives (empty if it loads).
func diagnostics(_ text: String, environment: [String: String] = guideEnvironment) -> [MeshFileError.Diagnostic] {
    do { _ = try loadMesh(text, environment: environment); return [] } catch let e as MeshFileError { return e.diagnostics } catch { return [] }
}

/// A small valid mesh file; tests change one thing in it.
let minimalMesh = """
mesh: test
istio:
  version: 1.24.0
clusters:
  - name: external
    role: external
  - name: remote1
    role: config
controlPlane:
  address: istiod.example.com
  tls:
    secretName: istiod-tls
workloads:
  - name: sleep
    cluster: remote1
    namespace: sample
"""

/// The guide's topology compiled with the demo's pre-rendered stand-ins (real names, kinds and ports).
func compileWithStandIns(_ planName: String, address: String? = nil) async throws -> CompiledMesh {
    var env = guideEnvironment
    if let address { env["EXTERNAL_ISTIOD_ADDR"] = address }
    let t = try MeshFile.load(path: TestPaths.plan(planName), environment: env)
    return try await Compiler(renderer: ManifestDirectoryRenderer(directory: TestPaths.demoManifests)).compile(t)
}
