import Foundation
import Testing
@testable import KubeModel

/// `YAMLGuard`: what hostile YAML may cost, and where each refusal points.
@Suite struct YAMLGuardTests {
    func refusal(_ text: String, _ limits: YAMLGuard.Limits = .manifests) -> YAMLInputError? {
        do { try YAMLGuard.check(text, limits: limits); return nil } catch { return error }
    }

    @Test func aliasesInModerationPassAndABombIsRefusedAtAnAlias() throws {
        // 500 aliases of a small anchor: 60% of the values come through aliases, well within go-yaml's 99%.
        let modest = "base: &b {cpu: 1m, mem: 2Mi}\nitems:\n" + (0..<500).map { "  - {name: i\($0), a: x, b: y, c: z, r: *b}" }.joined(separator: "\n")
        #expect(refusal(modest) == nil)
        #expect(try YAMLDocuments.parseOne(modest)["items"]?[499]?["r"]?["mem"] == "2Mi")

        let bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + (1...6).map { "a\($0): &a\($0) [" + Array(repeating: $0 == 1 ? "*a" : "*a\($0 - 1)", count: 10).joined(separator: ", ") + "]" }
        let e = refusal(bomb.joined(separator: "\n"))
        #expect(e?.message.contains("excessive aliasing") == true)
        #expect(e.map { bomb[$0.line - 1].contains("*a") } == true, "\(String(describing: e))")
        #expect((e?.line ?? 99) <= 4, "refused as soon as the ratio is exceeded, not after expanding: \(String(describing: e))")
    }

    @Test func limitsAndSyntaxAreLocated() {
        let small = YAMLGuard.Limits(textBytes: 1000, documentBytes: 50, depth: 3)
        #expect(refusal(String(repeating: "#", count: 1001), small)?.message.contains("limit is 1000 bytes") == true)
        #expect(refusal("a: 1\n---\nb: \"" + String(repeating: "x", count: 60) + "\"\n", small)?.message.contains("document ending here is") == true)
        #expect(refusal("a:\n  b:\n    c:\n      d: [1]\n", small).map { "\($0.line):\($0.column)" } == "4:7")
        #expect(refusal("a: *nothing\n")?.description == "line 1, column 4: the alias *nothing names no anchor defined before it")
        #expect(refusal("a: [1, 2\nb: 3\n")?.message.hasPrefix("not valid YAML") == true)
        let control = refusal("a: 1\nb: \u{07}\n")
        #expect(control?.line == 2 && control?.message.hasPrefix("not valid YAML text") == true, "\(String(describing: control))")
    }

    @Test func keysAreDuplicatesOnlyWithinOneMappingAndAnchorsOnlyWithinOneDocument() {
        #expect(refusal("a: {x: 1}\nb: {x: 2}\n") == nil)
        #expect(refusal("- {x: 1}\n- {x: 2}\n") == nil)
        #expect(refusal("items:\n- {x: 1, x: 2}\n")?.duplicate == .init(path: "items[0].x", firstLine: 2))
        #expect(refusal("a: &x 1\n---\nb: *x\n")?.message.contains("names no anchor") == true)
    }
}
