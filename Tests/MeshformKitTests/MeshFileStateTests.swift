import Foundation
import Testing
@testable import MeshformKit

/// `state:` in the mesh file: where the state lives when neither `--state` nor `MESHFORM_STATE` says.
@Suite struct MeshFileStateTests {
    func withState(_ value: String) -> String { minimalMesh.replacingOccurrences(of: "mesh: test\n", with: "mesh: test\nstate: \(value)\n") }

    @Test func aPathIsRelativeToTheMeshFileAndAURLIsKept() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("mesh.yaml").path
        try withState("states/test.db").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try MeshFile.load(path: file, environment: guideEnvironment).state == dir.appendingPathComponent("states/test.db").path)

        let url = "postgres://ci@db.example.com:5432/meshform?sslmode=verify-full"
        #expect(try loadMesh(withState(url)).state == url)
        #expect(try loadMesh(withState("postgres://ci@${DB_HOST}/meshform"), environment: guideEnvironment.merging(["DB_HOST": "db"]) { $1 }).state
                == "postgres://ci@db/meshform")
        #expect(try loadMesh(minimalMesh).state == nil)
    }

    /// A mesh file is shared and committed: a password in `state:` is refused where it is written, in every form,
    /// and the message never repeats it.
    @Test(arguments: ["postgres://ci:hunter2-secret@db/meshform", "postgres://ci@db/meshform?password=hunter2-secret",
                      "postgresql://ci:${DB_PASSWORD}@db/meshform"])
    func aPasswordInStateIsRefusedAtItsLine(_ value: String) throws {
        let d = diagnostics(withState(value), environment: guideEnvironment.merging(["DB_PASSWORD": "hunter2-secret"]) { $1 })
        #expect(d.count == 1)
        let first = try #require(d.first)
        #expect(first.location.line == 2 && first.location.file.hasSuffix("mesh.yaml"))
        #expect(first.message.contains("a password in the URL is refused"), "\(first.message)")
        #expect(first.fix.contains("state: postgres://USER@HOST"))
        #expect(!"\(first)".contains("hunter2"))
    }

    /// The rest of the URL is checked as `--state` checks it, at load time, not at the first state access.
    @Test func aBadURLIsRefusedAtItsLine() {
        let d = diagnostics(withState("postgres://ci@db/meshform?sslmode=prefer"))
        #expect(d.map(\.location.line) == [2])
        #expect(d.first?.message.contains("sslmode 'prefer' is not supported") == true, "\(d)")
    }

    /// `--state` / MESHFORM_STATE (the session's `statePath`) wins over the file; the file wins over state/<mesh>.db.
    @Test func theCallersLocationWinsOverTheFile() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("demo.yaml").path
        let demo = try String(contentsOfFile: TestPaths.plan("demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "demo/tls/", with: TestPaths.demoManifests + "/tls/")
            .replacingOccurrences(of: "manifests: demo", with: "manifests: " + TestPaths.demoManifests)
            .replacingOccurrences(of: "../../shared/", with: TestPaths.root.deletingLastPathComponent().path + "/shared/")
        try demo.replacingOccurrences(of: "meshID: mesh1\n", with: "meshID: mesh1\nstate: from-file.db\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await MeshSession(meshFile: file, environment: [:]).statePath == dir.appendingPathComponent("from-file.db").path)
        #expect(try await MeshSession(meshFile: file, statePath: "/tmp/flag.db", environment: [:]).statePath == "/tmp/flag.db")
        try demo.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await MeshSession(meshFile: file, environment: [:]).statePath == "state/demo.db")
    }
}
