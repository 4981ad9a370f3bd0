import Foundation
import Testing
import KubeModel

/// The custom resource the CRD tests define, in one place: `Widget`, namespaced, served and stored as v1 in `group`,
/// with `spec` as the schema of its spec. Each suite gives its own group and schema.
enum WidgetCRD {
    static func definition(group: String, spec: JSON) -> JSON {
        ["apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": ["name": .string(name(group: group))],
         "spec": ["group": .string(group), "scope": "Namespaced",
                  "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"],
                  "versions": [["name": "v1", "served": true, "storage": true,
                                "schema": ["openAPIV3Schema": ["type": "object", "properties": ["spec": spec]]]]]]]
    }

    static func name(group: String) -> String { "widgets.\(group)" }

    /// A Widget named `name` in `default` with `spec` (YAML flow text), as a user writes one.
    static func widget(group: String, name: String, spec: String) -> String {
        "apiVersion: \(group)/v1\nkind: Widget\nmetadata: {name: \(name), namespace: default}\nspec: \(spec)\n"
    }
}

extension TestSim {
    /// Creates `crd` with the real kubectl and waits until it is Established, as a user's script does.
    func install(crd: JSON, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let file = dir + "/crd-\(UUID().uuidString).json"
        try crd.encoded().write(to: URL(fileURLWithPath: file))
        let applied = try await kubectl("apply", "-f", file)
        #expect(applied.status == 0, "\(applied.err)", sourceLocation: sourceLocation)
        let name = crd[path: ["metadata", "name"]]?.string ?? ""
        let established = try await kubectl("wait", "--for=condition=Established", "crd/\(name)", "--timeout=20s")
        #expect(established.status == 0, "\(established.err)", sourceLocation: sourceLocation)
    }
}
