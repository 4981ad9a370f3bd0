import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Server-side apply as the engine relies on it: managedFields in the real encoding, conflicts with other
/// managers (409 with FieldManagerConflict causes), force moving ownership, removal of fields a manager no
/// longer applies, and no new resourceVersion for an apply that changes nothing.
@Suite struct ServerSideApplyTests {
    let path = "/apis/apps/v1/namespaces/default/deployments/web"

    func deployment(replicas: Int, image: String = "nginx:1", extraEnv: Bool = true) -> JSON {
        var env: [JSON] = [["name": "A", "value": "1"]]
        if extraEnv { env.append(["name": "B", "value": "2"]) }
        return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "labels": ["app": "web"]],
                "spec": ["replicas": .int(replicas), "selector": ["matchLabels": ["app": "web"]],
                         "template": ["metadata": ["labels": ["app": "web"]],
                                      "spec": ["containers": [["name": "web", "image": .string(image), "env": .array(env)]]]]]]
    }

    func apply(_ t: TestSim, _ body: JSON, manager: String, force: Bool = false) async throws -> TestSim.HTTPAnswer {
        try await t.http("PATCH", path + "?fieldManager=\(manager)" + (force ? "&force=true" : ""), body: body, contentType: "application/apply-patch+yaml")
    }

    @Test func managedFieldsUseTheRealEncoding() async throws {
        try await TestSim.with { t in
            let a = try await apply(t, deployment(replicas: 2), manager: "meshform")
            #expect(a.code == 201)
            let mf = try #require(a.body[path: ["metadata", "managedFields"]]?.array?.first)
            #expect(mf["manager"] == "meshform")
            #expect(mf["operation"] == "Apply")
            #expect(mf["fieldsType"] == "FieldsV1")
            #expect(mf["apiVersion"] == "apps/v1")
            let f = try #require(mf["fieldsV1"])
            #expect(f[path: ["f:spec", "f:replicas"]] == [:])
            #expect(f[path: ["f:metadata", "f:labels", "f:app"]] == [:])
            let container = try #require(f[path: ["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}"]])
            #expect(container["."] == [:])
            #expect(container["f:image"] == [:])
            #expect(container[path: ["f:env", "k:{\"name\":\"B\"}", "f:value"]] == [:])
            #expect(a.body[path: ["metadata", "generation"]] == 1)
        }
    }

    @Test func applyWithoutChangeKeepsResourceVersion() async throws {
        try await TestSim.with(delay: .seconds(60)) { t in   // no controller status write in between
            let first = try await apply(t, deployment(replicas: 2), manager: "meshform").body
            let again = try await apply(t, deployment(replicas: 2), manager: "meshform")
            #expect(again.code == 200)
            #expect(again.body.resourceVersion == first.resourceVersion)
            // YAML bodies are accepted too.
            let yaml = YAMLDocuments.serialize(deployment(replicas: 2))
            let y = try await t.http("PATCH", path + "?fieldManager=meshform", contentType: "application/apply-patch+yaml", rawBody: yaml)
            #expect(y.code == 200)
            #expect(y.body.resourceVersion == first.resourceVersion)
            let changed = try await apply(t, deployment(replicas: 3), manager: "meshform").body
            #expect(Int(changed.resourceVersion!)! > Int(first.resourceVersion!)!)
            #expect(changed[path: ["metadata", "generation"]] == 2)
        }
    }

    @Test func conflictWithAnotherManagerThenForce() async throws {
        try await TestSim.with { t in
            _ = try await apply(t, deployment(replicas: 2), manager: "meshform")
            // Another manager applying the same value shares ownership without conflict.
            let same = try await apply(t, ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"], "spec": ["replicas": 2]], manager: "hpa")
            #expect(same.code == 200)
            let conflict = try await apply(t, ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"], "spec": ["replicas": 5]], manager: "other")
            #expect(conflict.code == 409)
            #expect(conflict.body["reason"] == "Conflict")
            let causes = try #require(conflict.body[path: ["details", "causes"]]?.array)
            #expect(causes.contains { $0["reason"] == "FieldManagerConflict" && $0["field"] == ".spec.replicas" && $0["message"] == "conflict with \"meshform\"" })
            let forced = try await apply(t, ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"], "spec": ["replicas": 5]], manager: "other", force: true)
            #expect(forced.code == 200)
            #expect(forced.body[path: ["spec", "replicas"]] == 5)
            let mine = forced.body[path: ["metadata", "managedFields"]]?.array?.first { $0["manager"] == "meshform" }
            #expect(mine?[path: ["fieldsV1", "f:spec", "f:replicas"]] == nil)
            // Ownership moved: meshform applying its old value now conflicts with "other".
            let back = try await apply(t, deployment(replicas: 2), manager: "meshform")
            #expect(back.code == 409)
        }
    }

    @Test func fieldsNoLongerAppliedAreRemoved() async throws {
        try await TestSim.with { t in
            _ = try await apply(t, deployment(replicas: 2), manager: "meshform")
            let out = try await apply(t, deployment(replicas: 2, extraEnv: false), manager: "meshform").body
            let env = out[path: ["spec", "template", "spec", "containers"]]?[0]?["env"]?.array ?? []
            #expect(env.compactMap { $0["name"]?.string } == ["A"])
        }
    }

    @Test func updatesByOtherManagersAreRecordedAndConflict() async throws {
        try await TestSim.with { t in
            _ = try await apply(t, deployment(replicas: 2), manager: "meshform")
            let patched = try await t.http("PATCH", path + "?fieldManager=kubectl-edit", body: ["spec": ["replicas": 4]], contentType: "application/strategic-merge-patch+json")
            #expect(patched.code == 200)
            let entries = patched.body[path: ["metadata", "managedFields"]]?.array ?? []
            #expect(entries.contains { $0["manager"] == "kubectl-edit" && $0["operation"] == "Update" && $0[path: ["fieldsV1", "f:spec", "f:replicas"]] == [:] })
            let conflict = try await apply(t, deployment(replicas: 2), manager: "meshform")
            #expect(conflict.code == 409)
            #expect(conflict.body[path: ["details", "causes"]]?.array?.first?["message"] == "conflict with \"kubectl-edit\" using apps/v1")
            #expect(try await t.http("PATCH", path, body: deployment(replicas: 2), contentType: "application/apply-patch+yaml").code == 400)
        }
    }

    @Test func statusIsIgnoredOnTheMainResource() async throws {
        try await TestSim.with(delay: .seconds(60)) { t in
            var d = deployment(replicas: 1)
            d["status"] = ["readyReplicas": 9]
            let out = try await apply(t, d, manager: "meshform").body
            #expect(out["status"] == nil)
        }
    }
}

/// Strategic merge patch and field paths on their own.
@Suite struct PatchUnitTests {
    @Test func strategicMergeByKeyAndDirectives() {
        let live: JSON = ["spec": ["containers": [["name": "a", "image": "1"], ["name": "b", "image": "1"]], "args": ["x"]]]
        let patch: JSON = ["spec": ["containers": [["name": "b", "image": "2"], ["name": "a", "$patch": "delete"], ["name": "c", "image": "3"]],
                                    "$setElementOrder/containers": [["name": "c"], ["name": "b"]], "args": ["y"]]]
        let out = strategicMerge(live, patch)
        #expect(out[path: ["spec", "containers"]] == [["name": "c", "image": "3"], ["name": "b", "image": "2"]])
        #expect(out[path: ["spec", "args"]] == ["y"])
        #expect(strategicMerge(["metadata": ["labels": ["a": "1", "b": "2"]]], ["metadata": ["labels": ["a": nil]]]) == ["metadata": ["labels": ["b": "2"]]])
    }

    @Test func jsonPatchOperations() throws {
        let doc: JSON = ["metadata": ["labels": ["a": "1"]], "list": [1, 2]]
        let out = try applyJSONPatch(doc, [["op": "add", "path": "/metadata/labels/b", "value": "2"], ["op": "remove", "path": "/list/0"],
                                           ["op": "replace", "path": "/metadata/labels/a", "value": "x"]])
        #expect(out == ["metadata": ["labels": ["a": "x", "b": "2"]], "list": [2]])
        #expect { try applyJSONPatch(doc, [["op": "replace", "path": "/nope", "value": 1]]) }
            throws: { ($0 as? APIError)?.code == 422 }
    }

    @Test func fieldPathsRoundTripThroughFieldsV1() {
        // A Service: ports are a map keyed by port and protocol (TCP when omitted), externalIPs atomic.
        let obj: JSON = ["metadata": ["name": "x", "labels": ["a": "1"], "finalizers": ["f1"]], "spec": ["ports": [["port": 80, "name": "http"]], "externalIPs": ["x"]]]
        let flat = FieldPaths.flatten(object: obj, includeStatus: true, schema: SchemaNode(["$ref": "io.k8s.api.core.v1.Service"]))
        let tree = FieldPaths.fieldsV1(Set(flat.keys))
        #expect(tree[path: ["f:spec", "f:ports", "k:{\"port\":80,\"protocol\":\"TCP\"}", "."]] == [:])
        #expect(tree[path: ["f:metadata", "f:finalizers", "v:\"f1\""]] == [:])
        #expect(tree[path: ["f:spec", "f:externalIPs"]] == [:])
        #expect(tree[path: ["f:metadata", "f:name"]] == nil)
        let parsed = StoreState.parseManagedFields([["manager": "m", "operation": "Apply", "fieldsV1": tree]])
        #expect(parsed?.first?.paths == Set(flat.keys))
    }

    @Test func requestBodyParserMatchesTheCodablePath() throws {
        let text = #"{"a":[1,-2,3.5,true,false,null],"s":"x\"y\\z\n\u00e9\ud83d\ude00","o":{},"e":[], "n": {"k": "v"}}"#
        #expect(try JSON.parse(Data(text.utf8)) == (try JSONDecoder().decode(JSON.self, from: Data(text.utf8))))
        #expect { try JSON.parse(Data("{\"a\":}".utf8)) } throws: { ($0 as? JSONTextError)?.offset == 5 }
        #expect { try JSON.parse(Data("[1,2".utf8)) } throws: { ($0 as? JSONTextError)?.offset == 4 }
        let ts = timestamp(Date(timeIntervalSince1970: 86400 * 365 + 3661))
        #expect(ts == "1971-01-01T01:01:01Z")
    }
}
