import Foundation
import Testing

/// Every document a user is sent to exists: each `docs/*.md` the README names, and each that `meshform --help` (and
/// every subcommand's `--help`, as deep as they go) names.
@Suite struct DocsTests {
    static func docsNamed(in text: String) -> Set<String> {
        Set(text.matches(of: try! Regex(#"docs/[A-Za-z0-9_.-]+\.md"#)).map { String(text[$0.range]) })
    }

    /// The names under SUBCOMMANDS: in an argument parser help text.
    static func subcommands(in help: String) -> [String] {
        guard let section = help.range(of: "\nSUBCOMMANDS:\n") else { return [] }
        // The section ends at its first blank line (after it comes "See 'meshform help ...'", not a subcommand).
        let lines = help[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).prefix { !$0.isEmpty }
        return lines.compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return name.allSatisfy { $0.isLetter || $0 == "-" } ? String(name) : nil
        }
    }

    @Test func everyDocTheReadmeNamesExists() throws {
        let readme = try String(contentsOf: MeshHarness.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let named = Self.docsNamed(in: readme)
        #expect(named.count >= 5, "the README names \(named.sorted()); did the pattern stop matching?")
        for doc in named.sorted() {
            #expect(FileManager.default.fileExists(atPath: MeshHarness.packageRoot.appendingPathComponent(doc).path), "README names \(doc), which does not exist")
        }
    }

    @Test func everyDocTheHelpNamesExists() async throws {
        let binary = try #require(EndToEnd.CLIEndToEndTests.binary, "the meshform executable was not built next to the tests")
        var env = ProcessInfo.processInfo.environment
        env["COLUMNS"] = "400"   // one line per paragraph: a path is never split
        var named: [String: Set<String>] = [:]   // doc -> the commands whose help names it
        var queue: [[String]] = [[]], visited = 0
        while let command = queue.popLast() {
            let help = try await MeshHarness.run(binary, command + ["--help"], environment: env)
            #expect(help.status == 0, "meshform \(command.joined(separator: " ")) --help: \(help.output)")
            visited += 1
            let name = (["meshform"] + command).joined(separator: " ")
            for doc in Self.docsNamed(in: help.output) { named[doc, default: []].insert(name) }
            try #require(visited < 200, "more help texts than meshform has commands: \(command)")
            queue += Self.subcommands(in: help.output).filter { $0 != "help" }.map { command + [$0] }
        }
        #expect(visited > 10, "only \(visited) help texts read; did the SUBCOMMANDS parsing stop matching?")
        #expect(!named.isEmpty, "no help text names a doc; did the pattern stop matching?")
        for (doc, commands) in named.sorted(by: { $0.key < $1.key }) {
            #expect(FileManager.default.fileExists(atPath: MeshHarness.packageRoot.appendingPathComponent(doc).path),
                    "\(commands.sorted().joined(separator: ", ")) --help names \(doc), which does not exist")
        }
    }
}
