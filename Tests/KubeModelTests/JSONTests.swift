import Foundation
import Testing
@testable import KubeModel

@Suite struct JSONTests {
    @Test func yamlScalarsResolveAsKubernetesDoes() throws {
        let docs = try YAMLDocuments.parse("""
        a: 1
        b: "1"
        c: true
        d: 1.5
        e: null
        f: [x, 2]
        ---
        ---
        kind: Second
        """)
        #expect(docs.count == 2)
        #expect(docs[0]["a"] == .int(1))
        #expect(docs[0]["b"] == .string("1"))
        #expect(docs[0]["c"] == .bool(true))
        #expect(docs[0]["d"] == .double(1.5))
        #expect(docs[0]["e"] == .null)
        #expect(docs[0]["f"] == ["x", 2])
        #expect(docs[1].kind == "Second")
    }

    /// What go-yaml v2 and sigs.k8s.io/yaml make of YAML 1.1's corners, which kubectl sends (`KubectlYAML`;
    /// JSONReferenceTests compares thousands of documents with that code itself).
    @Test func yamlReadsAsKubectlSendsIt() throws {
        let doc = try YAMLDocuments.parseOne("""
            y: n
            off: [0777, 0x1F, 1_000, 1e3, 1.0, 2001-12-14, 190:20:30, '0777', 12345678901234567890]
            0x10: {k: 0, <<: {k: 1, j: 2}}
            """)
        let expected: JSON = ["true": false, "false": [511, 31, 1000, 1000, 1, "2001-12-14", "190:20:30", "0777", .double(12345678901234567890)],
                              "16": ["k": 1, "j": 2]]
        #expect(doc == expected)
        for refused in ["a: .inf", "~: x", "a: !!int abc"] {
            #expect(throws: YAMLInputError.self, "\(refused)") { try YAMLDocuments.parseOne(refused) }
        }
        let twice = #expect(throws: YAMLInputError.self) { try YAMLDocuments.parseOne("y: 1\nyes: 2") }
        #expect(twice?.duplicate == .init(path: "true", firstLine: 1) && twice?.line == 2)
    }

    @Test func yamlRoundTripKeepsTypes() throws {
        let v: JSON = ["s": "true", "n": "007", "i": 7, "empty": "", "list": ["a", 1, false], "0x10": "on", "~": "y"]
        #expect(try YAMLDocuments.parseOne(YAMLDocuments.serialize(v)) == v)
    }

    @Test func jsonRoundTripIsDeterministic() throws {
        let v: JSON = ["z": 1, "a": ["b": 2.5, "c": nil]]
        #expect(v.jsonString == #"{"a":{"b":2.5,"c":null},"z":1}"#)
        #expect(try JSON(data: v.encoded()) == v)
    }

    @Test func mergePatchFollowsRFC7386() {
        let base: JSON = ["a": "b", "c": ["d": "e", "f": "g"]]
        let patch: JSON = ["a": "z", "c": ["f": nil]]
        #expect(base.applyingMergePatch(patch) == ["a": "z", "c": ["d": "e"]])
    }

    @Test func pathSubscriptCreatesIntermediateObjects() {
        var v: JSON = [:]
        v[path: ["metadata", "labels", "app"]] = "x"
        #expect(v.labels == ["app": "x"])
    }

    /// Surrogates as kube-apiserver's decoder reads them (Go's encoding/json `unquote`; JSONReferenceTests holds the
    /// reader to it): a pair joins, anything else is U+FFFD and what follows is read on its own. A high surrogate
    /// before another escape used to trap (UInt32 underflow) on the first hostile text.
    @Test func surrogatesReadAsKubernetesReadsThem() throws {
        let cases: [(String, String)] = [
            (#""\ud83d\ude00""#, "😀"), (#""\ud800\u0041""#, "\u{FFFD}A"), (#""\ud800""#, "\u{FFFD}"),
            (#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"), (#""\ud800\ud800\udc00""#, "\u{FFFD}\u{10000}"),
        ]
        for (text, expected) in cases {
            #expect(try JSON.parse(Data(text.utf8)) == .string(expected), "\(text)")
        }
        #expect(throws: JSONTextError.self) { try JSON.parse(Data(#""\ud800\uzzzz""#.utf8)) }
    }

    /// A write's answer read without the parts apply does not look at (#17): only the object's own managedFields and
    /// spec are left out, anything else so named (in the spec, in a nested metadata) is kept, and malformed text still
    /// fails.
    @Test func parseLeavingOutSkipsOnlyTheObjectsOwnParts() throws {
        let text = """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","managedFields":[{"manager":"m]}\\\"",
            "fieldsV1":{"f:data":{"f:x":{}}}}],"uid":"u1"},"data":{"x":"y","spec":{"a":1}},
            "spec":{"managedFields":[1],"template":{"metadata":{"managedFields":[2]}}},"status":{"spec":[3]}}
            """
        let whole = try JSON.parse(Data(text.utf8))
        #expect(whole[path: ["metadata", "managedFields"]] != nil)

        var withoutManagedFields = whole
        withoutManagedFields[path: ["metadata", "managedFields"]] = nil
        #expect(try JSON.parse(Data(text.utf8), leavingOut: .managedFields) == withoutManagedFields)

        var withoutBoth = withoutManagedFields
        withoutBoth["spec"] = nil
        let both = try JSON.parse(Data(text.utf8), leavingOut: [.managedFields, .spec])
        #expect(both == withoutBoth)
        #expect(both[path: ["data", "spec", "a"]] == 1 && both[path: ["status", "spec"]] == [3])
        #expect(try JSON.parse(Data(text.utf8), leavingOut: .spec)[path: ["metadata", "managedFields"]] != nil)
        #expect(throws: JSONTextError.self) { try JSON.parse(Data(#"{"metadata":{"managedFields":[1,2}"#.utf8), leavingOut: .managedFields) }
    }
}
