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
}
