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
}
