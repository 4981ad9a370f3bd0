import Foundation
import KubeModel
import Testing
@testable import StateStore
@testable import MeshformKit

/// The planner's memo of intended bodies' hashes gives exactly `StateStore.contentHash`, however many bodies share a
/// kind and name and in whatever order they come.
@Suite struct BodyHashesTests {
    func crd(_ version: String, deep: String = "x") -> JSON {
        ["apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "gateways.networking.istio.io"],
         "spec": ["versions": [["name": .string(version), "schema": ["openAPIV3Schema": ["description": .string(deep)]]]]]]
    }

    @Test func everyBodyGetsItsOwnContentHash() {
        let hashes = BodyHashes()
        // Equal bodies built apart (not one value in memory), bodies that differ deep inside, more of them than the
        // memo keeps, and an earlier body again.
        let bodies = [crd("v1"), crd("v1"), crd("v1", deep: "y"), crd("v1beta1"), crd("v1alpha3"), crd("v1", deep: "z"), crd("v1"),
                      crd("v1", deep: "y")]
        #expect(bodies.map(hashes.hash) == bodies.map(StateStore.contentHash))
    }

    @Test func bodiesOfOtherNamesAreNotConfused() {
        let hashes = BodyHashes()
        var other = crd("v1")
        other[path: ["metadata", "name"]] = "sidecars.networking.istio.io"
        #expect(hashes.hash(crd("v1")) == StateStore.contentHash(crd("v1")))
        #expect(hashes.hash(other) == StateStore.contentHash(other))
    }
}
