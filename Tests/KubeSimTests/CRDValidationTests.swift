import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// A CRD's structural schema validates values as kube-apiserver does (enum, pattern, min/maxLength,
/// minimum/maximum, maxItems), with its messages, seen through the real kubectl.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "needs kubectl (.ci/run installs it)"))
struct CRDValidationTests {
    static let group = "example.meshform.dev"
    static let crd = WidgetCRD.definition(group: group, spec: ["type": "object", "properties": [
        "mode": ["type": "string", "enum": ["Strict", "Permissive"]],
        "name": ["type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2],
        "replicas": ["type": "integer", "minimum": 1, "maximum": 10],
        "ratio": ["type": "number", "minimum": 0, "exclusiveMinimum": true],
        "hosts": ["type": "array", "maxItems": 2, "items": ["type": "string"]],
    ]])

    func widget(_ spec: String) -> String { WidgetCRD.widget(group: Self.group, name: "w1", spec: spec) }

    @Test func valuesOutsideTheSchemaAreRefusedWithTheAPIServersMessages() async throws {
        try await TestSim.with("crd-values") { t in
            let file = t.dir + "/w.yaml"
            try await t.install(crd: Self.crd)

            try widget("{mode: Loose, name: Abcdefg, replicas: 0, ratio: 0, hosts: [a, b, c]}").write(toFile: file, atomically: true, encoding: .utf8)
            let refused = try await t.kubectl("apply", "--server-side", "-f", file)
            #expect(refused.status != 0)
            for message in [
                "spec.mode: Unsupported value: \"Loose\": supported values: \"Strict\", \"Permissive\"",
                "spec.name: Too long: may not be longer than 5",
                "spec.name: Invalid value: \"Abcdefg\": spec.name in body should match '^[a-z]+$'",
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
                "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
                "spec.hosts: Too many: 3: must have at most 2 items",
            ] {
                #expect(refused.err.contains(message), "\(message) in \(refused.err)")
            }
            #expect(try await t.kubectl("get", "widget", "w1").status != 0)
            // The Status message aggregates several causes as apimachinery does: "[a, b]".
            let raw = try await t.http("POST", "/apis/example.meshform.dev/v1/namespaces/default/widgets",
                                       body: ["apiVersion": "example.meshform.dev/v1", "kind": "Widget", "metadata": ["name": "w2"],
                                              "spec": ["mode": "Loose", "replicas": 11]])
            #expect(raw.code == 422)
            let message = raw.body["message"]?.string ?? ""
            #expect(message.hasPrefix("Widget.example.meshform.dev \"w2\" is invalid: [") && message.hasSuffix("]"), "\(message)")
            #expect(message.contains("spec.mode: Unsupported value: \"Loose\": supported values: \"Strict\", \"Permissive\""), "\(message)")
            #expect(message.contains("spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"), "\(message)")

            try widget("{mode: Strict, name: ab, replicas: 10, ratio: 0.5, hosts: [a, b]}").write(toFile: file, atomically: true, encoding: .utf8)
            let accepted = try await t.kubectl("apply", "--server-side", "-f", file)
            #expect(accepted.status == 0, "\(accepted.err)")
            try widget("{name: a}").write(toFile: file, atomically: true, encoding: .utf8)
            let short = try await t.kubectl("apply", "--server-side", "-f", file)
            #expect(short.err.contains("spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"), "\(short.err)")
        }
    }
}
