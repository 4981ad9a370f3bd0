import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// Issue 13 through the real executable: a canary Secret value never lands on disk in clear, every file Meshform
/// writes is owner-only, and an unusable state file is refused by every command alike, touching nothing.
extension EndToEnd {
@Suite struct HostileEndToEndTests {
    /// A user's world under one directory: home, cache, temporary files, and the working directory.
    struct World {
        let root: URL
        var home: URL { root.appendingPathComponent("home") }
        var cache: URL { root.appendingPathComponent("cache") }
        var tmp: URL { root.appendingPathComponent("tmp") }
        var work: URL { root.appendingPathComponent("work") }
        var inputs: URL { root.appendingPathComponent("inputs") }
        init(_ h: MeshHarness) throws {
            root = h.dir.appendingPathComponent("world")
            for d in [home, cache, tmp, work, inputs] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        }
        func environment(_ h: MeshHarness) -> [String: String] {
            var env = h.environment
            env["HOME"] = home.path; env["XDG_CACHE_HOME"] = cache.path; env["TMPDIR"] = tmp.path
            env["MESHFORM_CACHE_DIR"] = nil
            return env
        }
    }

    func meshform(_ h: MeshHarness, _ w: World, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await MeshHarness.run(CLIEndToEndTests.binary!, args, environment: w.environment(h), directory: w.work)
    }

    /// plans/demo.yaml with its stand-in manifests copied, a Secret holding `canary` added to the config cluster's
    /// component (padded past the size the manifest cache keeps) and to a workload, and the remote component padded.
    func canaryMesh(_ w: World, canary: String) throws -> String {
        let plans = MeshHarness.packageRoot.appendingPathComponent("plans")
        let manifests = w.inputs.appendingPathComponent("demo")
        try FileManager.default.copyItem(at: plans.appendingPathComponent("demo"), to: manifests)
        func pad(_ name: String) -> String {
            "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: \(name), namespace: external-istiod}\ndata:\n  pad: \"" + String(repeating: "p", count: 70_000) + "\"\n"
        }
        let secret = "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: canary, namespace: external-istiod}\ntype: Opaque\n"
            + "stringData:\n  token: \(canary)\ndata:\n  other: \(Data(canary.utf8).base64EncodedString())\n"
        for (file, extra) in [("remote-config-cluster.yaml", pad("pad-config") + secret), ("remote-cluster.yaml", pad("pad-remote"))] {
            let url = manifests.appendingPathComponent(file)
            try (try String(contentsOf: url, encoding: .utf8) + extra).write(to: url, atomically: true, encoding: .utf8)
        }
        let workloadSecret = w.inputs.appendingPathComponent("app-secret.yaml")
        try "apiVersion: v1\nkind: Secret\nmetadata: {name: app-credentials}\nstringData:\n  password: \(canary)\n"
            .write(to: workloadSecret, atomically: true, encoding: .utf8)
        var text = try String(contentsOf: plans.appendingPathComponent("demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "manifests: demo", with: "manifests: \(manifests.path)")
            .replacingOccurrences(of: "../../shared/", with: MeshHarness.packageRoot.deletingLastPathComponent().path + "/shared/")
        text += "  - {name: app, cluster: config, manifests: [\(workloadSecret.path)]}\n"
        let path = w.inputs.appendingPathComponent("demo.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aCanarySecretNeverLandsOnDiskInClearAndEveryFileIsPrivate() async throws {
        guard CLIEndToEndTests.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await MeshHarness.with { h in
            let w = try World(h)
            let canary = "CANARY-\(UUID().uuidString)"
            let encoded = Data(canary.utf8).base64EncodedString()
            let file = try canaryMesh(w, canary: canary)

            // The demo's life, as a user runs it: validate, plan -out, show, apply the plan, drift, graph, state, destroy.
            let steps: [([String], Set<Int32>)] = [
                (["validate", file], [0]),
                (["plan", file, "-out", "saved/mesh.plan", "--no-color"], [0]),
                (["show", "saved/mesh.plan"], [0]),
                (["apply", "saved/mesh.plan", "--no-color"], [0]),
                (["drift", file, "--json", "--metrics-file", "metrics/meshform.prom"], [0, 2]),
                (["graph", file, "-o", "out/graph.dot"], [0]),
                (["state", "list"], [0]),
                (["state", "show", "config/core/Secret/external-istiod/canary"], [0]),
                (["state", "history"], [0]),
                (["plan", file, "--json"], [0]),
                (["destroy", file, "-auto-approve", "--no-color"], [0]),
            ]
            for (args, ok) in steps {
                let r = try await meshform(h, w, args)
                #expect(ok.contains(r.status), "meshform \(args.joined(separator: " ")) -> \(r.status): \(r.output.suffix(800))")
                #expect(!r.output.contains(canary) && !r.output.contains(encoded), "meshform \(args[0]) printed the canary")
            }
            #expect(try await h.managedObjects().isEmpty)

            // Every file Meshform wrote under the user's home, cache, temporary and working directories.
            var files = 0
            for base in [w.home, w.cache, w.tmp, w.work] {
                let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isDirectoryKey])!
                for case let url as URL in e {
                    let mode = ((try? FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions]) as? Int ?? 0) & 0o777
                    if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                        #expect(mode == 0o700, "directory \(url.path) is \(String(mode, radix: 8))")
                        continue
                    }
                    files += 1
                    #expect(mode == 0o600, "\(url.path) is \(String(mode, radix: 8))")
                    let data = try Data(contentsOf: url)
                    #expect(data.range(of: Data(canary.utf8)) == nil && data.range(of: Data(encoded.utf8)) == nil, "\(url.path) holds the canary")
                }
            }
            // The state file, the saved plan, the metrics, the graph and the cache's entry for the padded component at least.
            #expect(files >= 5)
            let cached = (try? FileManager.default.contentsOfDirectory(atPath: w.cache.appendingPathComponent("meshform/manifests").path)) ?? []
            #expect(cached.count == 1, "the padded component without Secret data is cached, the one with it is not: \(cached)")
        }
    }

    @Test func aBadCAIsReportedAgainstItsOwnClusterOnly() async throws {
        try await MeshHarness.with { h in
            // remote2's kubeconfig trusts the external cluster's CA instead of its own.
            let path = h.kubeconfigs["remote2"]!
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let own = Data(h.sims["remote2"]!.caPEM.utf8).base64EncodedString(), wrong = Data(h.sims["external"]!.caPEM.utf8).base64EncodedString()
            #expect(text.contains(own))
            try text.replacingOccurrences(of: own, with: wrong).write(toFile: path, atomically: true, encoding: .utf8)
            let session = try await h.session(try h.multiRemote())
            do {
                _ = try await session.plan(PlanOptions())
                Issue.record("remote2 cannot be verified: plan must fail")
            } catch SessionError.unreachable(let clusters) {
                #expect(Array(clusters.keys) == ["remote2"], "\(clusters)")
                #expect(clusters["remote2"]?.contains("context \"remote2\"") == true && clusters["remote2"]?.contains("TLS") == true, "\(clusters)")
            }
        }
    }

    @Test func everyCommandRefusesAnEmptyStateFileAlikeAndTouchesNothing() async throws {
        guard CLIEndToEndTests.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            _ = FileManager.default.createFile(atPath: h.statePath, contents: Data())
            let state = ["--state", h.statePath]
            let commands: [[String]] = [
                ["plan", file], ["apply", file, "-auto-approve"], ["destroy", file, "-auto-approve"], ["drift", file],
                ["recover", file, "--rollback", "-auto-approve"], ["recover", file, "--continue", "-auto-approve"], ["state", "list"], ["state", "history"],
            ]
            var messages: Set<String> = []
            for args in commands {
                let r = try await MeshHarness.run(CLIEndToEndTests.binary!, args + state, environment: h.environment)
                #expect(r.status == 1, "meshform \(args.joined(separator: " ")) -> \(r.status): \(r.output)")
                let line = r.output.split(separator: "\n").first { $0.contains(h.statePath) }.map(String.init) ?? r.output
                #expect(line.contains("is corrupt (the file is empty (0 bytes)"), "meshform \(args[0]): \(r.output)")
                messages.insert(line.replacingOccurrences(of: "Error: ", with: ""))
            }
            #expect(messages.count == 1, "the same refusal everywhere: \(messages)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: h.statePath)).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: h.statePath + "-wal"))
            #expect(try await h.managedObjects().isEmpty)
        }
    }
}
}
