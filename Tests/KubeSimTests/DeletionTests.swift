import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Deletion as a real API server and its controllers do it: finalizers hold an object with a
/// `deletionTimestamp`, namespaces terminate while their content goes and refuse new content, the garbage
/// collector follows `ownerReferences` per `propagationPolicy`, the token controller follows ServiceAccounts.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
struct DeletionTests {
    func ok(_ r: (out: String, err: String, status: Int32), sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(r.status == 0, "kubectl failed: \(r.err)", sourceLocation: sourceLocation)
        return r.out
    }

    func apply(_ t: TestSim, _ yaml: String) async throws {
        let path = t.dir + "/\(UUID().uuidString).yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        _ = ok(try await t.kubectl("apply", "-f", path))
    }

    func exists(_ t: TestSim, _ args: String...) async throws -> Bool {
        try await t.kubectl(["get"] + args).status == 0
    }

    @Test func finalizersHoldAnObjectAndATerminatingNamespace() async throws {
        try await TestSim.with("finalizers") { t in
            _ = ok(try await t.kubectl("create", "namespace", "doomed"))
            try await apply(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: doomed, finalizers: [example.com/hold]}\n")
            _ = ok(try await t.kubectl("create", "configmap", "free", "-n", "doomed"))

            _ = ok(try await t.kubectl("delete", "namespace", "doomed", "--wait=false"))
            #expect(ok(try await t.kubectl("get", "namespace", "doomed", "-o", "jsonpath={.status.phase}")) == "Terminating")
            // The namespace controller deletes what it can; the held object waits with a deletionTimestamp.
            #expect(try await t.eventually { try await !exists(t, "configmap", "free", "-n", "doomed") })
            let held = try JSON(data: Data(ok(try await t.kubectl("get", "configmap", "held", "-n", "doomed", "-o", "json")).utf8))
            #expect(held[path: ["metadata", "deletionTimestamp"]] != nil)
            let refused = try await t.kubectl("create", "configmap", "late", "-n", "doomed")
            #expect(refused.status != 0)
            #expect(refused.err.contains(#"configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated"#))
            // The controller has been through the namespace (it deleted `free`), and the held object keeps it.
            #expect(try await exists(t, "namespace", "doomed"))

            // Removing the finalizer lets the object go, and then the namespace.
            _ = ok(try await t.kubectl("patch", "configmap", "held", "-n", "doomed", "--type=json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#))
            #expect(try await !exists(t, "configmap", "held", "-n", "doomed"))
            #expect(try await t.eventually { try await !exists(t, "namespace", "doomed") })
        }
    }

    /// A ConfigMap owning a Secret (any kinds do; the garbage collector only reads ownerReferences).
    func ownerAndDependent(_ t: TestSim, _ name: String) async throws {
        _ = ok(try await t.kubectl("create", "configmap", name, "-n", "default"))
        let uid = ok(try await t.kubectl("get", "configmap", name, "-n", "default", "-o", "jsonpath={.metadata.uid}"))
        try await apply(t, """
            apiVersion: v1
            kind: Secret
            metadata:
              name: \(name)-dep
              namespace: default
              ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: \(name), uid: \(uid)}]
            """)
    }

    @Test func garbageCollectionFollowsPropagationPolicy() async throws {
        try await TestSim.with("gc") { t in
            // Background (kubectl's default): the owner goes at once, its dependent after.
            try await ownerAndDependent(t, "bg")
            _ = ok(try await t.kubectl("delete", "configmap", "bg", "-n", "default"))
            #expect(try await !exists(t, "configmap", "bg", "-n", "default"))
            #expect(try await t.eventually { try await !exists(t, "secret", "bg-dep", "-n", "default") })

            // Foreground: the owner waits, with the foregroundDeletion finalizer, until its dependents are gone.
            try await ownerAndDependent(t, "fg")
            _ = ok(try await t.kubectl("patch", "secret", "fg-dep", "-n", "default", "--type=merge", "-p", #"{"metadata":{"finalizers":["example.com/hold"]}}"#))
            _ = ok(try await t.kubectl("delete", "configmap", "fg", "-n", "default", "--cascade=foreground", "--wait=false"))
            #expect(ok(try await t.kubectl("get", "configmap", "fg", "-n", "default", "-o", "jsonpath={.metadata.finalizers}")).contains("foregroundDeletion"))
            #expect(try await t.eventually {
                try await !ok(t.kubectl("get", "secret", "fg-dep", "-n", "default", "-o", "jsonpath={.metadata.deletionTimestamp}")).isEmpty
            })
            // The garbage collector has been through the owner (its dependent is being deleted); the held dependent keeps it.
            #expect(try await exists(t, "configmap", "fg", "-n", "default"))
            _ = ok(try await t.kubectl("patch", "secret", "fg-dep", "-n", "default", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#))
            #expect(try await t.eventually { try await !exists(t, "configmap", "fg", "-n", "default") })

            // Orphan: the owner goes, the dependent stays without its owner reference.
            try await ownerAndDependent(t, "or")
            _ = ok(try await t.kubectl("delete", "configmap", "or", "-n", "default", "--cascade=orphan"))
            #expect(try await t.eventually { try await !exists(t, "configmap", "or", "-n", "default") })
            #expect(ok(try await t.kubectl("get", "secret", "or-dep", "-n", "default", "-o", "jsonpath={.metadata.ownerReferences}")).isEmpty)
        }
    }

    @Test func tokenControllerFollowsServiceAccounts() async throws {
        try await TestSim.with("tokens") { t in
            func tokenSecret(_ name: String, for sa: String) -> String {
                "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata: {name: \(name), namespace: default, annotations: {kubernetes.io/service-account.name: \(sa)}}\n"
            }
            // No ServiceAccount: the controller deletes the Secret instead of filling it.
            try await apply(t, tokenSecret("orphan-token", for: "nobody"))
            #expect(try await t.eventually { try await !exists(t, "secret", "orphan-token", "-n", "default") })

            _ = ok(try await t.kubectl("create", "serviceaccount", "reader", "-n", "default"))
            try await apply(t, tokenSecret("reader-token", for: "reader"))
            var encoded = ""
            #expect(try await t.eventually {
                encoded = try await t.kubectl("get", "secret", "reader-token", "-n", "default", "-o", "jsonpath={.data.token}").out
                return !encoded.isEmpty
            })
            let token = String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps", token: token).code == 403)   // known, not allowed
            // The ServiceAccount goes: its token Secret goes and its tokens stop authenticating.
            _ = ok(try await t.kubectl("delete", "serviceaccount", "reader", "-n", "default"))
            #expect(try await t.eventually { try await !exists(t, "secret", "reader-token", "-n", "default") })
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps", token: token).code == 401)
        }
    }
}
