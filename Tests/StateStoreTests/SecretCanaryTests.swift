import Foundation
import Testing
import KubeModel
@testable import StateStore

/// A known token goes in through every door the store has; it must not come out of the file's bytes.
@Suite struct SecretCanaryTests {
    static let token = "CANARY-eyJhbGciOiJSUzI1NiJ9-7f3a9c1d"

    func remoteSecret() -> JSON {
        let kubeconfig = "apiVersion: v1\nusers:\n- name: remote1\n  user:\n    token: \(Self.token)\n"
        let b64 = Data(Self.token.utf8).base64EncodedString()
        return ["apiVersion": "v1", "kind": "Secret",
                "metadata": ["name": "istio-remote-secret-remote1", "namespace": "external-istiod",
                             "labels": ["istio/multiCluster": "true"],
                             "annotations": ["kubectl.kubernetes.io/last-applied-configuration": .string("{\"stringData\":{\"token\":\"\(Self.token)\"}}")]],
                "stringData": ["remote1": .string(kubeconfig)],
                "data": ["token": .string(b64)]]
    }

    @Test func tokenNeverReachesTheStateFile() throws {
        let t = TempState()
        let b64 = Data(Self.token.utf8).base64EncodedString()
        do {
            let store = try StateStore.open(path: t.path)
            let secret = managed(remoteSecret(), cluster: "external")
            try store.upsert(secret, run: nil)   // unmasked on purpose: the store must mask it itself
            // A control: a value the store keeps in clear, which the grep below must find, or it sees nothing at all.
            let control = "CONTROL-\(UUID().uuidString)"
            try store.upsert(managed(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "control", "namespace": "external-istiod"],
                                      "data": ["k": .string(control)]], cluster: "external"), run: nil)
            let run = try store.beginRun(kind: .apply, who: "ci", configHash: "h")
            try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: secret.address), action: .update, phase: .started,
                                                     before: remoteSecret(), after: remoteSecret()))
            try store.finishRun(run, outcome: .succeeded, message: nil)
            let stored = try #require(try store.object(address: secret.address))
            #expect(stored.applied["stringData"]?["remote1"]?.string.map(StateStore.isMasked) == true)
            #expect(stored.applied["data"]?["token"]?.string.map(StateStore.isMasked) == true)
            #expect(stored.appliedHash == StateStore.contentHash(stored.applied))
            #expect(!stored.applied.jsonString.contains(Self.token))
            // Grep while the WAL is live, before any checkpoint: the store is open, so its WAL file exists (a missing
            // one is an error here, not an empty file), and the writes above are in it.
            var seen = Data()
            for suffix in ["", "-wal"] {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: t.path + suffix))
                #expect(bytes.range(of: Data(Self.token.utf8)) == nil, "token found in \(t.path + suffix)")
                #expect(bytes.range(of: Data(b64.utf8)) == nil, "base64 token found in \(t.path + suffix)")
                seen += bytes
            }
            #expect(seen.range(of: Data(control.utf8)) != nil, "the control value is in neither file: the grep would see no token either")
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: t.path))
        #expect(bytes.range(of: Data(Self.token.utf8)) == nil)
        #expect(bytes.range(of: Data(b64.utf8)) == nil)
    }

    @Test func dataAndStringDataOfTheSameValueHashTheSame() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let sent: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "stringData": ["k": "hunter2"]]
        let live: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"],
                          "data": ["k": .string(Data("hunter2".utf8).base64EncodedString())]]
        #expect(store.maskedSecretData(sent) == store.maskedSecretData(live))
        let other: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "stringData": ["k": "hunter3"]]
        #expect(store.maskedSecretData(sent) != store.maskedSecretData(other))
    }

    @Test func maskingIsIdempotentAndLeavesOtherKindsAlone() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let once = store.maskSecrets(remoteSecret())
        #expect(store.maskSecrets(once) == once)
        let cm: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "istio"], "data": ["mesh": "x"]]
        #expect(store.maskSecrets(cm) == cm)
        let list: JSON = ["apiVersion": "v1", "kind": "List", "items": [remoteSecret()]]
        #expect(!store.maskSecrets(list).jsonString.contains(Self.token))
    }

    @Test func hashKeyIsPerStateFile() throws {
        let ta = TempState(), tb = TempState()
        let a = try StateStore.open(path: ta.path), b = try StateStore.open(path: tb.path)
        #expect(a.secretHash("same") == a.secretHash("same"))
        #expect(a.secretHash("same") != b.secretHash("same"))
    }
}
