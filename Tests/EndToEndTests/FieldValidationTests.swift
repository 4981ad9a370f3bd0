import Foundation
import KubeClient
import KubeModel
import Synchronization
import TestSupport
import Testing

/// Meshform's writes carry `fieldValidation=Strict`, so a field the server would drop fails the apply by name instead
/// of being a diff forever; the server's `Warning` headers are shown. Against a scripted server answering as
/// kube-apiserver 1.27+ does (KubeSim learns field validation in issue 11's KubeSim half).
@Suite struct FieldValidationTests {
    static let discovery = #"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["create","delete","get","list","patch","update"]}]}"#
    static let configMap: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "istio", "namespace": "istio-system"],
                                  "data": ["mesh": "{}"], "spec": ["bogus": true]]

    func client(_ server: ScriptedAPIServer, warnings: (@Sendable (String, String) -> Void)? = nil) throws -> KubeClient {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scripted-\(UUID().uuidString).kubeconfig").path
        try server.writeKubeconfig(to: path, context: "scripted")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = ClientOptions()
        if let warnings { options.warningHandler = warnings }
        return KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.load(explicitPath: path, environment: [:]),
                                                            context: "scripted"), options: options)
    }

    @Test func strictValidationMakesAnUnknownFieldAnErrorNamingIt() async throws {
        try await ScriptedAPIServer.with(answer: { r in
            if r.method == "GET" { return .init(status: 200, body: Self.discovery) }
            guard r.uri.contains("fieldValidation=Strict") else { return .init(status: 200, body: r.body) }
            return .init(status: 400, body: #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed to create typed patch object (istio-system/istio; /v1, Kind=ConfigMap): .spec: field not declared in schema","reason":"BadRequest","code":400}"#)
        }) { server in
            try await withShutdown(try client(server)) { c async throws in
                await #expect { _ = try await c.apply(Self.configMap, fieldManager: "meshform", force: true) } throws: { error in
                    "\(error)".contains(".spec: field not declared in schema") && "\(error)".contains("istio-system/istio")
                }
                let patch = try #require(server.requests.first { $0.method == "PATCH" })
                #expect(patch.uri.contains("fieldManager=meshform") && patch.uri.contains("fieldValidation=Strict"), "\(patch.uri)")
            }
        }
    }

    @Test func theServersWarningsReachTheWarningHandler() async throws {
        try await ScriptedAPIServer.with(answer: { r in
            if r.method == "GET" { return .init(status: 200, body: Self.discovery) }
            return .init(status: 200, headers: [("Warning", #"299 - "unknown field \"spec.bogus\"""#),
                                                ("Warning", #"299 - "v1 ConfigMap is fine", 199 - "not shown""#)],
                         body: r.body)
        }) { server in
            let seen = Mutex<[String]>([])
            try await withShutdown(try client(server) { context, text in seen.withLock { $0.append("\(context): \(text)") } }) { c in
                _ = try await c.apply(Self.configMap, fieldManager: "meshform", fieldValidation: .warn)
                #expect(seen.withLock { $0 } == [#"scripted: unknown field "spec.bogus""#, "scripted: v1 ConfigMap is fine"])
                #expect(server.requests.contains { $0.uri.contains("fieldValidation=Warn") })
            }
        }
    }

    @Test func warningHeadersParseAsRFC7234() {
        #expect(ServerWarnings.parse(#"299 - "a, \"quoted\" text""#) == [#"a, "quoted" text"#])
        #expect(ServerWarnings.parse(#"299 kube-apiserver "one" "Wed, 25 Nov 2026 15:00:00 GMT", 299 - "two""#) == ["one", "two"])
        #expect(ServerWarnings.parse(#"110 - "stale", 299 - "kept""#) == ["kept"])
        #expect(ServerWarnings.parse(#"299 - "unterminated"#).isEmpty)
        #expect(ServerWarnings.parse("garbage").isEmpty)
    }
}
