import Foundation
import KubeModel
@testable import StateStore

/// A fresh directory per test, removed afterwards: tests work on real files, as users do.
final class TempState {
    let dir: String
    init() {
        dir = NSTemporaryDirectory() + "meshform-state-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    var path: String { dir + "/state/mesh.db" }
    func file(_ name: String) -> String { dir + "/" + name }
}

func deployment(_ name: String, replicas: Int = 1) -> JSON {
    ["apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": ["name": .string(name), "namespace": "sample"],
     "spec": ["replicas": .int(replicas), "selector": ["matchLabels": ["app": .string(name)]]]]
}

func managed(_ body: JSON, cluster: String = "remote1", deps: [String] = []) -> ManagedObject {
    let gv = body.groupVersion ?? GroupVersion(group: "", version: "v1")
    let address = [cluster, gv.group.isEmpty ? "core" : gv.group, body.kind ?? "", body.namespace ?? "_", body.name ?? ""].joined(separator: "/")
    return ManagedObject(address: address, cluster: cluster, apiVersion: body.apiVersion ?? "v1", kind: body.kind ?? "",
                         namespace: body.namespace, name: body.name ?? "", uid: UUID().uuidString, resourceVersion: "1",
                         applied: body, dependencies: deps)
}

func fileMode(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
}
