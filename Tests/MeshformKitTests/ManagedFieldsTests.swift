import Testing
import KubeModel
@testable import MeshformKit

@Suite struct ManagedFieldsTests {
    @Test func pathsMapToFieldsV1Keys() {
        #expect(ManagedFields.fieldsV1Keys(".spec.template.spec.containers[name=discovery].image")
                == ["f:spec", "f:template", "f:spec", "f:containers", #"k:{"name":"discovery"}"#, "f:image"])
        #expect(ManagedFields.fieldsV1Keys(".spec.ports[0].port") == ["f:spec", "f:ports"])
    }

    @Test func theManagerThatChangedAFieldIsFound() {
        let live: JSON = ["metadata": ["managedFields": [
            ["manager": "meshform", "operation": "Apply", "time": "2026-11-25T08:00:00Z",
             "fieldsV1": ["f:spec": ["f:replicas": [:], "f:selector": [:]]]],
            ["manager": "kubectl-edit", "operation": "Update", "time": "2026-11-25T09:00:00Z",
             "fieldsV1": ["f:spec": ["f:replicas": [:]]]],
        ]]]
        #expect(ManagedFields.owner(of: ".spec.replicas", in: live, except: "meshform") == "kubectl-edit")
        #expect(ManagedFields.owner(of: ".spec.selector", in: live, except: "meshform") == nil)
    }

    /// Fields Meshform sends on create and then leaves to istiod: released without the server resetting them.
    @Test func releasedFieldsKeepTheirLiveValue() {
        let rendered: JSON = ["kind": "ValidatingWebhookConfiguration", "webhooks": [
            ["name": "a", "failurePolicy": "Ignore", "clientConfig": ["url": "https://x/validate", "caBundle": ""]],
            ["name": "b", "failurePolicy": "Ignore", "clientConfig": ["url": "https://x/validate"]]]]
        let live: JSON = ["kind": "ValidatingWebhookConfiguration",
            "metadata": ["managedFields": [
                ["manager": "meshform", "operation": "Apply", "fieldsV1": ["f:webhooks": [
                    #"k:{"name":"a"}"#: [".": [:], "f:failurePolicy": [:], "f:clientConfig": ["f:url": [:], "f:caBundle": [:]]],
                    #"k:{"name":"b"}"#: [".": [:], "f:failurePolicy": [:], "f:clientConfig": ["f:url": [:]]]]]],
                ["manager": "pilot-discovery", "operation": "Update", "fieldsV1": ["f:webhooks": [
                    #"k:{"name":"a"}"#: ["f:failurePolicy": [:], "f:clientConfig": ["f:caBundle": [:]]]]]],
            ]],
            "webhooks": [
                ["name": "a", "failurePolicy": "Fail", "clientConfig": ["url": "https://x/validate", "caBundle": "LS0t"]],
                ["name": "b", "failurePolicy": "Ignore", "clientConfig": ["url": "https://x/validate"]]]]
        let ignore = ["webhooks[*].clientConfig.caBundle", "webhooks[*].failurePolicy"].map(FieldPattern.init)
        let body = ManagedFields.releasing(ignore, in: rendered, live: live, manager: "meshform")
        // a: istiod owns both: left to it. b: Meshform alone owns failurePolicy: sent back as it is live, not dropped
        // (dropping it would let the server reset it to its default, Fail).
        #expect(body == ["kind": "ValidatingWebhookConfiguration", "webhooks": [
            ["name": "a", "clientConfig": ["url": "https://x/validate"]],
            ["name": "b", "failurePolicy": "Ignore", "clientConfig": ["url": "https://x/validate"]]]])
        #expect(ManagedFields.owners(of: ".webhooks[name=a].failurePolicy", in: live) == ["meshform", "pilot-discovery"])
        #expect(ManagedFields.owners(of: ".webhooks[name=b].clientConfig.caBundle", in: live).isEmpty)
    }
}
