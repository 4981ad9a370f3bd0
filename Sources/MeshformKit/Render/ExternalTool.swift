import Foundation
import KubeClient

/// What the renderers need around `ChildProcess`: finding istioctl or helm, and a private file for their input.
enum ExternalTool {
    /// The executable for `name`: a path is used as is; a bare name is looked up on PATH.
    static func locate(_ name: String) -> String? { ChildProcess.locate(name) }

    /// Runs `executable` to completion without blocking a thread (`ChildProcess`).
    static func run(_ executable: String, _ arguments: [String]) async throws -> ChildProcess.Result {
        try await ChildProcess.run(executable, arguments)
    }

    /// Writes `text` to a fresh private temporary file, runs `body` with its path, and removes the file.
    static func withTemporaryFile<T>(_ text: String, name: String, _ body: (String) async throws -> T) async throws -> T {
        let dir = try PrivateFile.temporaryDirectory("meshform")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try PrivateFile.write(text, to: url.path)
        return try await body(url.path)
    }
}
