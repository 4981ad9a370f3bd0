import Foundation
import KubeModel
import Testing
import TestSupport

/// Meshform's `LabelSelector` (the mesh file's `selector:`, KubeSim's `?labelSelector=`) held to the real kubectl:
/// `kubectl apply -f FILE -l SELECTOR` filters the file's objects with k8s.io/apimachinery's `labels.Parse` and
/// `Matches` before it sends anything (resource.Builder's FilterByLabelSelector), and with `--dry-run=client -o name`
/// it prints what it selected, or refuses the selector. Fixed and generated selectors (every operator, sets with empty
/// members, keys with and without a prefix, invalid keys and values, stray symbols, spaces) must select the same
/// objects here, or be refused by both.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "needs kubectl (apt-get install kubernetes-client; .ci/run installs it)"))
struct LabelSelectorTests {
    static let objects: [(name: String, labels: [String: String])] = [
        ("c0", [:]), ("c1", ["app": "web"]), ("c2", ["app": "web", "tier": "front"]),
        ("c3", ["app": "db", "tier": "back", "version": "v1"]), ("c4", ["app": "", "n": "5"]),
        ("c5", ["example.com/team": "core", "n": "10"]), ("c6", ["version": "v2", "n": "abc"]), ("c7", ["app": "in", "n": "0"]),
    ]

    static let fixed = ["", " ", "app", "!app", "app=web", "app = web", "app==web", "app!=web", "app=", "app!=", "app=web,", ",app",
                        "app=web=db", "!app=web", "app in (web,db)", "app in (web, db)", "app notin (web)", "app in ()", "app in (,)",
                        "app in (web,,db)", "app in (web,)", "app in web", "app in (web db)", "n>4", "n<6", "n>abc", "n>-1", "n > 4",
                        "example.com/team=core", "Example.com/team=core", "a/b/c", "-app", "app=-web", "app in (in)", "in", "notin",
                        "app=has space", "app>", "app<", "app=(", "app=)", "app,,tier", "!", "!!app", "app=web,tier", "app,!tier",
                        String(repeating: "k", count: 63), String(repeating: "k", count: 64), "app=" + String(repeating: "v", count: 64)]

    @Test func selectorsAreParsedAndMatchedAsKubectlDoes() async throws {
        try await TestSim.with("selectors") { t in
            let file = t.dir + "/objects.yaml"
            let yaml = Self.objects.map { o in
                let labels = o.labels.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
                return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \(o.name), namespace: default, labels: {\(labels)}}\n"
            }.joined(separator: "---\n")
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)

            var rng = SplitMix64(seed: 0x5e1ec7)
            let selectors = Self.fixed + (0..<150).map { _ in Self.randomSelector(&rng) }
            var kubectl: [Int: (status: Int32, names: Set<String>, err: String)] = [:]
            try await withThrowingTaskGroup(of: (Int, (Int32, Set<String>, String)).self) { group in
                var next = 0
                func start() {
                    guard next < selectors.count else { return }
                    let k = next, selector = selectors[k]; next += 1
                    group.addTask {
                        let (out, err, status) = try await t.kubectl(["apply", "-f", file, "-l", selector, "--dry-run=client", "-o", "name"])
                        let names = Set(out.split(separator: "\n").map { String($0.split(separator: "/").last ?? "") })
                        // A selector that selects nothing leaves apply nothing to do, which it reports as an error.
                        if status != 0, err.contains("no objects passed to apply") { return (k, (0, [], err)) }
                        return (k, (status, names, err))
                    }
                }
                for _ in 0..<4 { start() }
                while let (k, r) = try await group.next() { kubectl[k] = r; start() }
            }

            var agreed = 0, refused = 0, differences: [String] = []
            for (k, selector) in selectors.enumerated() {
                let real = kubectl[k]!
                var ours: LabelSelector?, why = ""
                do throws(LabelSelector.ParseError) { ours = try LabelSelector.parse(selector) } catch { why = error.message }
                switch (ours, real.status == 0) {
                case (nil, false):
                    refused += 1
                    // A syntax error is told in labels.Parse's own words, as kubectl prints them ("... is not valid: WHY");
                    // a key's or value's validation is told in ours (k8s.io/apimachinery's field errors, paraphrased).
                    let kubectlWhy = real.err.trimmingCharacters(in: .whitespacesAndNewlines)
                    if !why.contains("Invalid value"), !kubectlWhy.hasSuffix("is not valid: " + why) {
                        differences.append("\(selector.debugDescription): refused here because \(why.debugDescription), by kubectl: \(kubectlWhy)")
                    }
                case (let s?, true):
                    let names = Set(Self.objects.filter { s.matches($0.labels) }.map(\.name))
                    if names == real.names { agreed += 1 } else { differences.append("\(selector.debugDescription): here \(names.sorted()), kubectl \(real.names.sorted())") }
                case (nil, true): differences.append("\(selector.debugDescription): refused here, kubectl selects \(real.names.sorted())")
                case (_?, false): differences.append("\(selector.debugDescription): read here, kubectl refuses it: \(real.err.prefix(200))")
                }
            }
            print("label selectors: \(selectors.count) selectors, \(agreed) select alike, \(refused) refused by both; \(differences.count) differences")
            #expect(differences.isEmpty, "\(differences.prefix(30).joined(separator: "\n"))")
            #expect(agreed > 40 && refused > 40)
        }
    }

    /// kube-apiserver answers a selector `labels.Parse` refuses with 400 (the ListOptions conversion), for a LIST and a
    /// watch alike; KubeSim used to ignore it and list everything. The real kubectl shows the answer's reason.
    @Test func aSelectorKubernetesRefusesIsABadRequest() async throws {
        try await TestSim.with("bad-selector") { t in
            for query in ["labelSelector=app%3Dweb%3Ddb", "labelSelector=app%3Dweb%3Ddb&watch=true&timeoutSeconds=1"] {
                let answer = try await t.http("GET", "/api/v1/namespaces/default/configmaps?" + query)
                #expect(answer.code == 400, "\(query): \(answer.code) \(answer.body)")
                #expect(answer.body["message"]?.string?.contains("found '='") == true, "\(answer.body)")
            }
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps?labelSelector=app%20%3D%20web").code == 200)
            // The real kubectl sends such a selector as it is (`get -l` does not parse it) and reports the 400.
            let kubectl = try await t.kubectl("get", "configmaps", "-l", "app=web=db")
            #expect(kubectl.status != 0 && kubectl.err.contains("found '=', expected: ',' or 'end of string'"), "\(kubectl)")
        }
    }

    static func randomSelector(_ rng: inout SplitMix64) -> String {
        let keys = ["app", "tier", "version", "n", "example.com/team", "missing", "App", "a b", "-x", "a/b/c", "Example.com/x", "in", ""]
        let values = ["web", "db", "", "v1", "5", "10", "abc", "in", "notin", "-bad", "x y", "front"]
        func space(_ rng: inout SplitMix64) -> String { rng.chance(0.3) ? rng.pick([" ", "  ", "\t"]) : "" }
        func requirement(_ rng: inout SplitMix64) -> String {
            let key = rng.pick(keys)
            switch rng.int(0...4) {
            case 0: return key
            case 1: return "!" + space(&rng) + key
            case 2: return key + space(&rng) + rng.pick(["=", "==", "!=", ">", "<", "=!", "<=", "=="]) + space(&rng) + rng.pick(values)
            case 3:
                let members = (0..<rng.int(0...3)).map { _ in space(&rng) + rng.pick(values) + space(&rng) }.joined(separator: rng.pick([",", ",", ",,"]))
                return key + " " + rng.pick(["in", "notin", "in", "In"]) + space(&rng) + "(" + members + rng.pick(["", "", ","]) + ")"
            default: return rng.pick(["(", ")", ",", "!", "=", "app=(web)", "app in (web", "web)"]) + rng.pick(["", key])
            }
        }
        let parts = (0..<rng.int(1...3)).map { _ in requirement(&rng) }
        return parts.joined(separator: space(&rng) + "," + space(&rng)) + (rng.chance(0.1) ? "," : "")
    }
}
