import Foundation
import Testing
@testable import KubeModel

/// Parsing with a `JSONInterner` (LIST answers of many clusters): the same values as without one, with equal parts held
/// once across texts.
@Suite struct JSONSharingTests {
    /// A LIST answer whose two items carry the same spec (as the same CRD in two clusters does) and their own metadata.
    static func list(uid: String) -> Data {
        Data("""
        {"kind":"List","items":[
          {"metadata":{"name":"a","uid":"\(uid)-a"},"spec":{"x-kubernetes-preserve-unknown-fields":true,"versions":[{"name":"v1","served":true}]}},
          {"metadata":{"name":"b","uid":"\(uid)-b"},"spec":{"x-kubernetes-preserve-unknown-fields":true,"versions":[{"name":"v1","served":true}]}}
        ]}
        """.utf8)
    }

    @Test func sharingGivesTheSameValuesAsParsingAlone() throws {
        let odd = Data(#"{"k":1,"k":2,"escaped\"key-longer-than-fifteen":"a\nb\u00e9","n":[1.5,-2,1e3,true,null,{}],"e":[]}"#.utf8)
        for text in [Self.list(uid: "1"), odd] {
            #expect(try JSON.parse(text, sharing: JSONInterner()) == JSON.parse(text))
        }
        #expect(try JSON.parse(odd)["k"] == 2, "a repeated key: the last one wins")
    }

    @Test func equalPartsAreHeldOnceAcrossTexts() throws {
        let interner = JSONInterner()
        let first = try JSON.parse(Self.list(uid: "1"), sharing: interner)
        let afterOne = interner.count
        let second = try JSON.parse(Self.list(uid: "2"), sharing: interner)
        // The second cluster's items differ only in their metadata: only the two metadata objects are new.
        #expect(interner.count == afterOne + 2)
        #expect(first["items"]?[0]?["spec"] == second["items"]?[1]?["spec"])
        #expect(second["items"]?[0]?[path: ["metadata", "uid"]] == "2-a")
    }

    /// A LIST answer with one item whose spec is over 256 bytes and holds brackets, quotes and backslashes in strings
    /// (an escaped quote after an escaped backslash, and a string that ends in escaped backslashes).
    static func bigList(uid: String) -> Data {
        let rules = (0..<12).map { #"{"name":"rule-\#($0)","match":"a}b]c{d[\\\"e","path":"c:\\\\","x-kubernetes-preserve-unknown-fields":true}"# }
        return Data(#"{"kind":"List","items":[{"metadata":{"name":"big","uid":"\#(uid)"},"spec":{"rules":[\#(rules.joined(separator: ","))]}}]}"#.utf8)
    }

    @Test func aLargeValueMetTwiceIsKnownByItsTextAndReadAsParsingWould() throws {
        let interner = JSONInterner()
        let first = try JSON.parse(Self.bigList(uid: "1"), sharing: interner)
        #expect(interner.textCount == 0, "met once: parsed, not yet remembered by text")
        let second = try JSON.parse(Self.bigList(uid: "2"), sharing: interner)
        #expect(interner.textCount == 2, "the spec and its rules, met twice, are remembered by their text")
        let third = try JSON.parse(Self.bigList(uid: "3"), sharing: interner)
        #expect(interner.textCount == 2, "the spec is found by its text; nothing in it is read again")
        for (parsed, uid) in [(first, "1"), (second, "2"), (third, "3")] {
            #expect(parsed == (try JSON.parse(Self.bigList(uid: uid))))
        }
        #expect(third[path: ["items"]]?[0]?[path: ["spec", "rules"]]?[11]?["match"] == #"a}b]c{d[\"e"#)
        #expect(third[path: ["items"]]?[0]?[path: ["spec", "rules"]]?[11]?["path"] == #"c:\\"#)
    }

    /// Drift's interner: nothing met once is held, only the text of a large value met twice.
    @Test func anInternerThatHoldsOnlyWhatRepeatsKeepsNoValueMetOnce() throws {
        let interner = JSONInterner(holdsEveryValue: false)
        let first = try JSON.parse(Self.bigList(uid: "1"), sharing: interner)
        #expect(interner.count == 0 && interner.textCount == 0)
        _ = try JSON.parse(Self.bigList(uid: "2"), sharing: interner)
        #expect(interner.count == 0 && interner.textCount == 2, "the spec and its rules, met twice, by their text")
        let third = try JSON.parse(Self.bigList(uid: "3"), sharing: interner)
        #expect(interner.textCount == 2)
        #expect(first == (try JSON.parse(Self.bigList(uid: "1"))))
        #expect(third == (try JSON.parse(Self.bigList(uid: "3"))))
    }
}
