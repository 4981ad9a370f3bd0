import ArgumentParser
import Foundation
import MeshformKit

/// `meshform graph FILE`: the compiled dependency graph as Graphviz DOT, to look at the apply order.
struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the mesh's resource dependency graph as Graphviz DOT (clusters as subgraphs).",
        discussion: """
            Compiles FILE (running its renderer, e.g. istioctl manifest generate) and prints every resource \
            with an edge to each resource it waits for. Bold: apply waits for readiness; dashed: sensitive; \
            blue: contains a value known only after apply. Contacts no cluster. Render a picture with
              meshform graph plans/demo.yaml | dot -Tpng -o graph.png
            """)

    @Argument(help: ArgumentHelp("The mesh file.", valueName: "FILE")) var file: String
    @Option(help: ArgumentHelp("Use pre-rendered manifests from DIR instead of the mesh file's renderer.", valueName: "DIR"))
    var manifests: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the DOT text to PATH instead of standard output.", valueName: "PATH"))
    var output: String?
    @Flag(help: "Print the apply order (one address per line) instead of DOT.") var order = false

    func run() async throws {
        let topology: MeshTopology
        do { topology = try MeshFile.load(path: file) } catch let e as MeshFileError {
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(1)
        }
        let renderer = manifests.map { ManifestDirectoryRenderer(directory: $0) } ?? Compiler.renderer(for: topology)
        let mesh = try await Compiler(renderer: renderer).compile(topology)
        let text = order ? mesh.resources.map { $0.address.description + "\n" }.joined() : mesh.graph.dot(title: topology.name)
        if let output { try PrivateFile.write(text, to: output) } else { print(text, terminator: "") }
    }
}
