import ArgumentParser
import Foundation
import MeshformKit

/// `meshform validate FILE`: checks a mesh file without touching any cluster, renderer or state.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a mesh file: schema, names, roles, workloads, dependsOn cycles.",
        discussion: """
            Reads FILE and the environment variables it names (${VAR}); contacts no cluster and runs no \
            renderer. Each problem is printed as FILE:LINE:COLUMN: error: ... with a line saying how to fix \
            it. Exit code 0 when valid, 1 otherwise. The format is described in docs/mesh-file.md.
            """)

    @Argument(help: ArgumentHelp("The mesh file.", valueName: "FILE")) var file: String
    @Flag(help: "Print nothing when the file is valid.") var quiet = false

    func run() throws {
        do {
            let t = try MeshFile.load(path: file)
            if !quiet {
                let remotes = t.clusters.filter { $0.role == .remote }.count
                print("\(file): valid — mesh \(t.name), \(t.clusters.count) clusters (config \(t.configCluster?.name ?? "-"), \(remotes) more remote(s)), \(t.workloads.count) workload(s), Istio \(t.istio.version)")
            }
        } catch let e as MeshFileError {
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
