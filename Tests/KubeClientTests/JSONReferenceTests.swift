import Foundation
import KubeClient
import KubeModel
import Testing
import TestSupport

/// Meshform's own JSON reader and writer (`JSON.parse`, `canonicalText`: KubeModel's JSONFastText.swift, which reads every
/// API answer and writes every request body and state body) held to the decoder kube-apiserver reads bodies with:
/// sigs.k8s.io/json's `UnmarshalCaseSensitivePreserveInts` (called by k8s.io/apimachinery's util/json and
/// serializer/json), run by tools/json-reference (Go, built offline against Debian's golang-k8s-sigs-json-dev).
///
/// Generated texts (every escape, surrogate pairs and lone surrogates, control characters, integers at and past Int64's
/// edges, exponents, repeated keys, odd whitespace) and mutations of them go through both:
/// - a text the reference decodes must decode to the same value here: integers as integers, other numbers to the same
///   float64 bits, strings and keys to the same bytes; with a `JSONInterner` (as LISTs are read) too;
/// - what `canonicalText` writes of that value must decode, by the reference, to the same value again;
/// - a text the reference refuses may be read here (this reader is more lenient: raw control characters, a leading `+`
///   or zero, unknown escapes) but must never crash it.
/// Not compared: texts with invalid UTF-8, which Go replaces byte by byte and Swift by maximal subpart (no real API
/// server sends them: Go's encoder writes valid UTF-8 only); and keys of one object that differ only by Unicode
/// normalization, which Swift's `String`, and so `JSON`'s objects, take as one key (Kubernetes' own keys are ASCII).
@Suite struct JSONReferenceTests {
    static let go: String? = ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let library = "/usr/share/gocode/src/sigs.k8s.io/json/json.go"
    static let available = go != nil && FileManager.default.fileExists(atPath: library)
    static let cases = Int(ProcessInfo.processInfo.environment["JSON_DIFF_CASES"] ?? "") ?? 6000
    static let seed = UInt64(ProcessInfo.processInfo.environment["JSON_DIFF_SEED"] ?? "") ?? 0x15_0_7e47
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(.enabled(if: available, "needs Go and sigs.k8s.io/json (apt-get install golang-go golang-k8s-sigs-json-dev; .ci/run installs them)"))
    func readerAndWriterAgreeWithKubeAPIServersDecoder() async throws {
        let tool = try await Self.referenceTool()

        var rng = SplitMix64(seed: Self.seed)
        var texts = Self.fixedCases.map { Array($0.utf8) }
        for n in 0..<Self.cases {
            var text = Self.text(&rng, depth: 0)
            if n % 3 == 2 { text = Self.mutated(text, &rng) }
            texts.append(text)
        }
        // Every text is read here first: a crash fails the whole run, which is the point.
        let interner = JSONInterner()
        let ours = texts.map { try? JSON.parse(Data($0)) }
        let oursShared = texts.map { try? JSON.parse(Data($0), sharing: interner) }
        let reference = try await Self.decode(texts, with: tool)

        var agreed = 0, refused = 0, lenient = 0, invalidUTF8 = 0, differences: [String] = []
        var written: [(text: [UInt8], value: JSON)] = []
        for (k, text) in texts.enumerated() {
            guard String(validating: text, as: UTF8.self) != nil else { invalidUTF8 += 1; continue }
            guard let expected = reference[k] else {
                refused += 1
                if ours[k] != nil { lenient += 1 }
                continue
            }
            guard let value = ours[k] else { differences.append("refused here, decoded by Kubernetes: \(Self.show(text))"); continue }
            let got = Self.dump(value)
            if got != expected { differences.append("\(Self.show(text)): here \(got), Kubernetes \(expected)"); continue }
            if let shared = oursShared[k].map(Self.dump), shared != expected {
                differences.append("\(Self.show(text)): with an interner \(shared), Kubernetes \(expected)"); continue
            }
            agreed += 1
            written.append((Array(value.canonicalBytes), value))
        }
        let rereads = try await Self.decode(written.map(\.text), with: tool)
        for (k, w) in written.enumerated() where rereads[k] != Self.dump(w.value) {
            differences.append("canonicalText \(Self.show(w.text)) reads back by Kubernetes as \(rereads[k] ?? "an error"), not \(Self.dump(w.value))")
        }
        print("json reference: \(texts.count) texts, \(agreed) decoded alike and written back alike, \(refused) refused by Kubernetes "
              + "(\(lenient) of them read here), \(invalidUTF8) with invalid UTF-8 not compared; \(differences.count) differences")
        #expect(differences.isEmpty, "\(differences.prefix(10).joined(separator: "\n"))")
        // The generator must reach both sides: texts decoded alike, and texts Kubernetes refuses.
        #expect(agreed > Self.cases / 3 && refused > Self.cases / 20)
    }

    /// Manifests as kubectl and Helm send them: sigs.k8s.io/yaml's YAMLToJSON (go-yaml v2's YAML 1.1 resolution, keys
    /// made strings), then the JSON text as kube-apiserver decodes it. Meshform's `YAMLDocuments.parse` of the same
    /// document must give the value the API server would get from kubectl, or refuse what kubectl refuses.
    @Test(.enabled(if: available, "needs Go, sigs.k8s.io/json and sigs.k8s.io/yaml (apt-get install golang-go golang-k8s-sigs-json-dev golang-k8s-sigs-yaml-dev; .ci/run installs them)"))
    func manifestsReadAsKubectlSendsThem() async throws {
        let tool = try await Self.referenceTool()

        var rng = SplitMix64(seed: Self.seed)
        var documents = Self.fixedDocuments
        for _ in 0..<(Self.cases / 3) { documents.append(Self.document(&rng)) }
        let reference = try await Self.decode(documents.map { Array($0.utf8) }, with: tool, arguments: ["-yaml"])
        var agreed = 0, refused = 0, twice = 0, differences: [String] = []
        for (k, document) in documents.enumerated() {
            let ours: JSON?
            do { ours = try YAMLDocuments.parse(document).first ?? .null } catch let e as YAMLInputError where e.duplicate != nil {
                // A key written twice, or two keys that are one to Kubernetes (`y` and `yes`): kubectl keeps one of them
                // and drops the other without a word; Meshform refuses, naming both lines.
                twice += 1; continue
            } catch { ours = nil }
            switch (ours, reference[k]) {
            case (nil, nil): refused += 1
            case (let value?, let expected?):
                if Self.dump(value) == expected { agreed += 1 } else { differences.append("\(document.debugDescription): here \(Self.dump(value)), kubectl \(expected)") }
            case (_?, nil): differences.append("\(document.debugDescription): read here, refused by kubectl")
            case (nil, _?): differences.append("\(document.debugDescription): refused here, read by kubectl")
            }
        }
        print("yaml reference: \(documents.count) documents, \(agreed) read as kubectl sends them, \(refused) refused by both, "
              + "\(twice) refused here for a key written twice; \(differences.count) differences")
        #expect(differences.isEmpty, "\(differences.prefix(40).joined(separator: "\n"))")
        #expect(agreed > documents.count / 2 && refused > 0 && twice > 0)
    }

    static let fixtures = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/istio")

    /// Every document of Istio's real istioctl output, profiles, samples and charts' values files
    /// (../shared/fixtures/istio; chart templates and the templates under charts/*/files are not YAML until rendered)
    /// reads as kubectl sends it.
    @Test(.enabled(if: available && FileManager.default.fileExists(atPath: fixtures.path),
                   "needs Go, sigs.k8s.io/json and sigs.k8s.io/yaml, and ../shared/fixtures/istio"))
    func istiosRealManifestsReadAsKubectlSendsThem() async throws {
        let tool = try await Self.referenceTool()

        var documents: [(file: String, text: String)] = []
        let files = FileManager.default.enumerator(atPath: Self.fixtures.path)?.compactMap { $0 as? String } ?? []
        for file in files.sorted() where file.hasSuffix(".yaml") && !file.contains("/templates/") && !file.contains("/files/") {
            let text = try String(contentsOfFile: Self.fixtures.path + "/" + file, encoding: .utf8)
            let split = Self.kubectlDocuments(text)
            documents += split.map { (file, $0) }
            // The whole file, as Meshform reads a manifest, gives the documents kubectl's split gives, in order.
            let whole = try YAMLDocuments.parse(text).map(Self.dump)
            let each = try split.compactMap { try YAMLDocuments.parse($0).first }.map(Self.dump)
            #expect(whole == each, "\(file): \(whole.count) documents read whole, \(each.count) split as kubectl splits")
        }
        try #require(documents.count > 50, "only \(documents.count) documents in \(files.count) entries")
        let reference = try await Self.decode(documents.map { Array($0.text.utf8) }, with: tool, arguments: ["-yaml"])
        var differences: [String] = []
        for (k, d) in documents.enumerated() {
            let ours = (try? YAMLDocuments.parse(d.text))?.first ?? .null
            guard let expected = reference[k] else { differences.append("\(d.file): refused by kubectl"); continue }
            if Self.dump(ours) != expected { differences.append("\(d.file): \(d.text.prefix(200).debugDescription) differs") }
        }
        print("yaml fixtures: \(documents.count) documents in \(Set(documents.map(\.file)).count) files of Istio's; \(differences.count) differences")
        #expect(differences.isEmpty, "\(differences.prefix(20).joined(separator: "\n"))")
    }

    /// A multi-document text split as kubectl splits it (k8s.io/apimachinery util/yaml `YAMLReader.Read`): at a line
    /// that starts with `---` and has nothing after it but spaces.
    static func kubectlDocuments(_ text: String) -> [String] {
        var out: [String] = [], current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("---"), line.dropFirst(3).allSatisfy(\.isWhitespace) {
                out.append(current); current = ""
            } else {
                current += line + "\n"
            }
        }
        out.append(current)
        return out.filter { !$0.split(separator: "\n").allSatisfy { $0.allSatisfy(\.isWhitespace) || $0.hasPrefix("#") } }
    }

    /// Scalars whose meaning YAML 1.1 resolution decides, each as a value and as a key.
    static let scalars = ["yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "", "0777", "0o17", "0x1F", "0b101", "-0b11",
                          "1_000", "190:20:30", "2001-12-14", "2001-12-14T21:59:43.10Z", ".inf", "-.Inf", ".nan", "1e3", "1E400",
                          "+1", "-0", "0", "1.0", "1.", ".5", "-2.5e-3", "12345678901234567890", "9223372036854775807",
                          "9223372036854775808", "-9223372036854775809", "1.5", "0.1", "<<", "=", "abc", "1a", "0x", "1e", "+.5"]

    static let fixedDocuments = scalars.flatMap { ["a: \($0)\n", "\($0): x\n", "- \($0)\n", "a: \"\($0)\"\n", "a: [\($0), '\($0)']\n"] }
        + ["a: !!str 1\n", "a: !!int \"7\"\n", "a: !!float 1\n", "a: 1\na: 2\n", "? [1, 2]\n: x\n", "a: &x 1\nb: *x\n",
           "a: |\n  text\n", "a: >-\n  folded\n  text\n", "{a: 1, b: [2, 3]}\n",
           // Merge keys, as go-yaml v2 merges them: over the keys before `<<`, under the keys after; first of a list wins.
           "base: &b {x: 1, y: 2}\nm:\n  y: 0\n  <<: *b\n  z: 3\n", "m:\n  <<: [{y: 1}, {y: 2, z: 3}]\n  w: 4\n", "<<: 1\n",
           "a: &a {k: v}\nb: {<<: *a, k: w}\n", "'<<': {x: 1}\n", "m: {<<: {a: 1}, <<: {b: 2}}\n",
           "a: !!binary aGVsbG8=\n", "a: !!null ''\n", "a: !!bool yes\n", "a: !!int 0x10\n", "a: !!float '1e3'\n", "a: !custom 7\n",
           "a: ! 7\n", "a: !!timestamp 2001-12-14\n", "- 1e21\n- 1e20\n- 123456789012345678\n- 4611686018427387904.0\n- 1e-7\n"]

    static func document(_ rng: inout SplitMix64) -> String {
        func scalar(_ rng: inout SplitMix64) -> String {
            let s = rng.pick(scalars)
            switch rng.int(0...5) {
            case 0: return "'\(s)'"
            case 1: return "\"\(s)\""
            default: return s.isEmpty ? "''" : s
            }
        }
        var lines: [String] = []
        for _ in 0..<rng.int(1...4) {
            let key = scalar(&rng)
            switch rng.int(0...3) {
            case 0: lines.append("\(key): [\(scalar(&rng)), \(scalar(&rng))]")
            case 1: lines.append("\(key):\n  - \(scalar(&rng))\n  - \(scalar(&rng))")
            case 2: lines.append("\(key):\n  \(scalar(&rng)): \(scalar(&rng))")
            default: lines.append("\(key): \(scalar(&rng))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Texts where a reader can go wrong, beside the generated ones (surrogates as Go's `unquote` reads them).
    static let fixedCases = [
        #""\ud800""#, #""\ud800\u0041""#, #""\ud800\ud800\udc00""#, #""\udc00\ud800""#, #""\ud83d\ude00""#, #""\uD83D\uDE00x""#,
        #""\ud800\""#, #""\ud800\u""#, #""\ud800\uzzzz""#, #""\u00e9\u0301""#, #""\/\b\f\n\r\t\"\\""#, #""\u0000""#,
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "-0", "-0.0", "0e0",
        "1E400", "1e-400", "4.9e-324", "1.7976931348623157e308", "0.1", "1e2", "01", "+1", "1.", ".5", "-", "[1,]", "{\"a\":1,}",
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":[2]}", " \t\r\n[ ] ", "\u{feff}{}", "", "nul", "[", "\"\u{01}\"",
    ]

    /// tools/json-reference, built once per test process (the suite's tests run at once) into a temporary directory.
    static func referenceTool() async throws -> String { try await builtTool.value }

    struct BuildFailed: Error, CustomStringConvertible { var description: String }

    private static let builtTool = Task<String, any Error> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("json-reference-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tool = dir + "/json-reference"
        let built = try await ChildProcess.run(packageRoot.path + "/tools/json-reference/build", [tool], timeout: .seconds(600))
        guard built.status == 0 else { throw BuildFailed(description: "tools/json-reference/build failed: \(built.stderrText)") }
        return tool
    }

    /// Runs the reference on `texts`: each one's dump, or nil where it refused the text.
    static func decode(_ texts: [[UInt8]], with tool: String, arguments: [String] = []) async throws -> [String?] {
        let input = texts.map { Data($0).base64EncodedString() + "\n" }.joined()
        let ran = try await ChildProcess.run(tool, arguments, input: Array(input.utf8), timeout: .seconds(300))
        try #require(ran.status == 0, "json-reference: \(ran.stderrText)")
        let lines = ran.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        try #require(lines.count == texts.count, "json-reference answered \(lines.count) of \(texts.count) texts")
        return lines.map { $0.hasPrefix("E") ? nil : String($0) }
    }

    /// The value in the reference's dump form (tools/json-reference/main.go).
    static func dump(_ v: JSON) -> String {
        var out = ""
        func walk(_ v: JSON) {
            switch v {
            case .null: out += "n"
            case .bool(let b): out += b ? "t" : "f"
            case .int(let n): out += "i\(n);"
            case .double(let d):
                let bits = String(d.bitPattern, radix: 16)
                out += "d" + String(repeating: "0", count: 16 - bits.count) + bits + ";"
            case .string(let s): out += "s" + Hex.encode(s.utf8) + ";"
            case .array(let a): out += "["; a.forEach(walk); out += "]"
            case .object(let o):
                out += "{"
                for (k, v) in o.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) { walk(.string(k)); walk(v) }
                out += "}"
            }
        }
        walk(v)
        return out
    }

    static func show(_ text: [UInt8]) -> String {
        let s = String(decoding: text.prefix(300), as: UTF8.self).debugDescription
        return text.count > 300 ? s + "..." : s
    }

    // MARK: - The generator

    /// Characters strings are made of: plain, JSON's specials, control characters, text whose normalization differs
    /// (é precomposed and decomposed), CJK, an astral emoji, line and paragraph separators, the BOM, U+FFFD.
    static let characters: [String] = ["a", "Z", "0", " ", "/", "\"", "\\", "\u{0}", "\u{1}", "\n", "\r", "\t", "\u{8}", "\u{c}",
                                       "\u{1f}", "\u{7f}", "é", "e\u{301}", "中", "😀", "\u{2028}", "\u{2029}", "\u{feff}", "\u{fffd}", "<", "&"]

    static func text(_ rng: inout SplitMix64, depth: Int) -> [UInt8] {
        let kind = depth >= 4 ? rng.int(0...3) : rng.int(0...5)
        switch kind {
        case 0: return rng.pick([Array("null".utf8), Array("true".utf8), Array("false".utf8)])
        case 1: return number(&rng)
        case 2, 3: return string(randomString(&rng), &rng)
        case 4:
            let n = rng.int(0...4)
            var out: [UInt8] = [UInt8(ascii: "[")] + space(&rng)
            for k in 0..<n {
                if k > 0 { out += [UInt8(ascii: ",")] + space(&rng) }
                out += text(&rng, depth: depth + 1) + space(&rng)
            }
            return out + [UInt8(ascii: "]")]
        default:
            let n = rng.int(0...4)
            var keys: [String] = []
            var out: [UInt8] = [UInt8(ascii: "{")] + space(&rng)
            for k in 0..<n {
                var key = keys.isEmpty || !rng.chance(0.2) ? randomString(&rng) : rng.pick(keys)   // repeated keys too
                // Keys equal only up to normalization are one key to Swift (see the suite's note): not generated.
                if keys.contains(where: { $0 == key && !$0.utf8.elementsEqual(key.utf8) }) { key = "k\(k)" }
                keys.append(key)
                if k > 0 { out += [UInt8(ascii: ",")] + space(&rng) }
                out += string(key, &rng) + space(&rng) + [UInt8(ascii: ":")] + space(&rng) + text(&rng, depth: depth + 1) + space(&rng)
            }
            return out + [UInt8(ascii: "}")]
        }
    }

    static func randomString(_ rng: inout SplitMix64) -> String {
        (0..<rng.int(0...6)).map { _ in rng.chance(0.5) ? rng.pick(characters) : String(UnicodeScalar(UInt8(rng.int(0x20...0x7e)))) }.joined()
    }

    static func space(_ rng: inout SplitMix64) -> [UInt8] {
        rng.chance(0.7) ? [] : Array(rng.pick([" ", "\n", "\t", "\r", "  \n "]).utf8)
    }

    /// A string literal: each character raw where JSON allows it, or escaped in any of the ways JSON allows (a short
    /// escape, `\u` in either case, astral characters as a surrogate pair), sometimes raw where JSON does not allow it.
    static func string(_ s: String, _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        func u(_ unit: UInt16) {
            let hex = String(unit, radix: 16)
            let padded = String(repeating: "0", count: 4 - hex.count) + hex
            out += Array("\\u".utf8) + Array((rng.chance(0.5) ? padded : padded.uppercased()).utf8)
        }
        for scalar in s.unicodeScalars {
            let short: [UInt32: String] = [0x22: "\\\"", 0x5c: "\\\\", 0x2f: "\\/", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t"]
            let mustEscape = scalar.value < 0x20 || scalar == "\"" || scalar == "\\"
            if mustEscape && rng.chance(0.97) || rng.chance(0.2) {
                if let e = short[scalar.value], rng.chance(0.6) { out += Array(e.utf8) } else { for unit in String(scalar).utf16 { u(unit) } }
            } else {
                out += Array(String(scalar).utf8)
            }
        }
        // Now and then a lone or misordered surrogate, as a hostile or broken writer might send.
        if rng.chance(0.05) { u(UInt16(rng.pick([0xd800, 0xdbff, 0xdc00, 0xdfff]))) }
        return out + [UInt8(ascii: "\"")]
    }

    static func number(_ rng: inout SplitMix64) -> [UInt8] {
        let spelled: String
        switch rng.int(0...5) {
        case 0: spelled = String(rng.int(-1000...1000))
        case 1: spelled = String(Int64(bitPattern: rng.next()) >> rng.int(0...62))
        case 2: spelled = rng.pick(["9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                                    "18446744073709551616", "123456789012345678901234567890", "-0", "0"])
        case 3: spelled = "\(Double(bitPattern: rng.next() & 0x7fef_ffff_ffff_ffff) * (rng.chance(0.5) ? 1 : -1))"
        case 4: spelled = "\(rng.int(0...99))\(rng.pick(["", ".5", ".25", ".000001"]))\(rng.pick(["e", "E", "e+", "E-", "e-"]))\(rng.int(0...330))"
        default: spelled = rng.pick(["0.1", "1.5", "-2.5e-3", "1e2", "1E2", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "0.0", "-0.0"])
        }
        return Array(spelled.utf8)
    }

    /// One to three edits: a byte dropped, doubled, or replaced by one that matters to a reader.
    static func mutated(_ text: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var t = text
        let bytes: [UInt8] = Array("{}[],:\"\\ud80e-.+0 x".utf8) + [0x00, 0x1f, 0xc3, 0xe2, 0xff]
        for _ in 0..<rng.int(1...3) {
            guard !t.isEmpty else { t = [rng.pick(bytes)]; continue }
            let at = rng.int(0...(t.count - 1))
            switch rng.int(0...2) {
            case 0: t.remove(at: at)
            case 1: t.insert(rng.pick(bytes), at: at)
            default: t[at] = rng.pick(bytes)
            }
        }
        return t
    }
}
