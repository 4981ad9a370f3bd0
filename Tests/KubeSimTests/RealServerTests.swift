import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// `resource.Quantity`'s canonical forms, as kubernetes/apimachinery pkg/api/resource/quantity.go writes them.
struct QuantityTests {
    @Test(arguments: [
        ("2048Mi", "2Gi"), ("2000m", "2"), ("0.5", "500m"), ("1.5", "1500m"), ("0.1", "100m"), ("100m", "100m"),
        ("1500m", "1500m"), ("1024", "1024"), ("1000000", "1M"), ("1Ki", "1Ki"), ("1024Ki", "1Mi"), ("1536Mi", "1536Mi"),
        ("8Gi", "8Gi"), ("0.5Gi", "512Mi"), ("0.5Ki", "512"), ("1e3", "1e3"), ("1.5e3", "1500"), ("12e6", "12e6"),
        ("5e-3", "5e-3"), ("0.0000000001", "1n"), ("1000E", "1e21"), ("1E", "1E"), ("0", "0"), ("0Mi", "0"), ("0.000", "0"),
        ("10Gi", "10Gi"), ("2500k", "2500k"), ("3000k", "3M"), ("1.0", "1"),
    ])
    func canonical(_ input: String, _ expected: String) throws {
        #expect(try Quantity(parsing: input).description == expected)
    }

    @Test(arguments: ["abc", "1Qi", "1.1i", "", "1e", "1.1.M", "1+1.0M", "0.1mi", "0.1am"])
    func invalid(_ input: String) {
        #expect { try Quantity(parsing: input) } throws: { ($0 as? Quantity.ParseError)?.text == input }
    }
}

/// What a real kube-apiserver does to what it stores: quantities canonical, defaults filled (also after a
/// server-side apply drops a field), empty optional fields gone, unknown fields per `fieldValidation`,
/// wrong types refused, custom resources pruned and checked against their CRD's schema.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
struct RealServerTests {
    func ok(_ r: (out: String, err: String, status: Int32), sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(r.status == 0, "kubectl failed: \(r.err)", sourceLocation: sourceLocation)
        return r.out
    }

    func write(_ t: TestSim, _ name: String, _ yaml: String) throws -> String {
        let path = t.dir + "/" + name
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: default, labels: {}}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              serviceAccountName: web
              containers:
              - name: web
                image: nginx:1.27
                args: []
                ports: [{containerPort: 80}]
                resources:
                  requests: {memory: 2048Mi, cpu: 2000m}
                  limits: {cpu: 0.5, memory: "1e3", ephemeral-storage: 1e3}
                readinessProbe: {httpGet: {path: /, port: 80}}
        """

    @Test func quantitiesAndDefaultsAsKubectlReadsThem() async throws {
        try await TestSim.with("defaults") { t in
            _ = ok(try await t.kubectl("apply", "-f", try write(t, "d.yaml", Self.deployment)))
            let d = try JSON(data: Data(ok(try await t.kubectl("get", "deployment", "web", "-n", "default", "-o", "json")).utf8))
            let c = d[path: ["spec", "template", "spec", "containers"]]?[0] ?? [:]
            #expect(c[path: ["resources", "requests", "memory"]] == "2Gi")
            #expect(c[path: ["resources", "requests", "cpu"]] == "2")
            #expect(c[path: ["resources", "limits", "cpu"]] == "500m")
            #expect(c[path: ["resources", "limits", "memory"]] == "1e3")                // DecimalExponent is kept as such
            #expect(c[path: ["resources", "limits", "ephemeral-storage"]] == "1k")      // YAML's 1e3 is the number 1000
            // apps/v1 SetDefaults_Deployment, core/v1 SetDefaults_PodSpec, _Container, _Probe.
            #expect(d[path: ["spec", "strategy"]] == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]])
            #expect(d[path: ["spec", "revisionHistoryLimit"]] == 10 && d[path: ["spec", "progressDeadlineSeconds"]] == 600)
            #expect(d[path: ["spec", "template", "spec", "restartPolicy"]] == "Always")
            #expect(d[path: ["spec", "template", "spec", "dnsPolicy"]] == "ClusterFirst")
            #expect(d[path: ["spec", "template", "spec", "serviceAccount"]] == "web")
            #expect(c["imagePullPolicy"] == "IfNotPresent" && c["terminationMessagePolicy"] == "File")
            #expect(c["ports"] == [["containerPort": 80, "protocol": "TCP"]])
            #expect(c[path: ["readinessProbe", "periodSeconds"]] == 10 && c[path: ["readinessProbe", "httpGet", "scheme"]] == "HTTP")
            // Empty optional list and map (omitempty) are not stored.
            #expect(c["args"] == nil)
            #expect(d[path: ["metadata", "labels"]] == nil)
            // A second apply of the same file: kubectl sends the non-canonical values again (it says
            // "configured", as against a real server), and the stored object does not change.
            _ = ok(try await t.kubectl("apply", "-f", try write(t, "d.yaml", Self.deployment)))
            let again = try JSON(data: Data(ok(try await t.kubectl("get", "deployment", "web", "-n", "default", "-o", "json")).utf8))
            #expect(again.resourceVersion == d.resourceVersion)
        }
    }

    @Test func serviceAndWebhookDefaultsComeBackAfterAnApplyDropsThem() async throws {
        try await TestSim.with("webhooks") { t in
            func webhook(_ extra: String) -> String {
                """
                apiVersion: admissionregistration.k8s.io/v1
                kind: MutatingWebhookConfiguration
                metadata: {name: istio-sidecar-injector}
                webhooks:
                - name: sidecar-injector.istio.io
                  clientConfig: {url: "https://istiod.example:15017/inject"}
                  sideEffects: None
                  admissionReviewVersions: [v1]
                \(extra)
                """
            }
            _ = ok(try await t.kubectl("apply", "--server-side", "-f", try write(t, "w.yaml", webhook("  failurePolicy: Ignore"))))
            let get = { try JSON(data: Data(self.ok(try await t.kubectl("get", "mutatingwebhookconfiguration", "istio-sidecar-injector", "-o", "json")).utf8)) }
            var w = try await get()[path: ["webhooks"]]?[0] ?? [:]
            #expect(w["failurePolicy"] == "Ignore")
            #expect(w["matchPolicy"] == "Equivalent" && w["timeoutSeconds"] == 10 && w["reinvocationPolicy"] == "Never")
            #expect(w["namespaceSelector"] == [:] && w["objectSelector"] == [:])
            // The field is no longer applied: removed from the object, then defaulted again.
            _ = ok(try await t.kubectl("apply", "--server-side", "-f", try write(t, "w.yaml", webhook(""))))
            w = try await get()[path: ["webhooks"]]?[0] ?? [:]
            #expect(w["failurePolicy"] == "Fail")

            _ = ok(try await t.kubectl("create", "namespace", "istio-system"))
            _ = ok(try await t.kubectl("apply", "-f", try write(t, "s.yaml", """
                apiVersion: v1
                kind: Service
                metadata: {name: istiod, namespace: istio-system}
                spec:
                  selector: {app: istiod}
                  ports: [{name: grpc-xds, port: 15012}, {name: https-webhook, port: 443, targetPort: 15017}]
                """)))
            let s = try JSON(data: Data(ok(try await t.kubectl("get", "service", "istiod", "-n", "istio-system", "-o", "json")).utf8))
            #expect(s[path: ["spec", "type"]] == "ClusterIP" && s[path: ["spec", "sessionAffinity"]] == "None")
            #expect(s[path: ["spec", "ipFamilies"]] == ["IPv4"] && s[path: ["spec", "ipFamilyPolicy"]] == "SingleStack")
            #expect(s[path: ["spec", "internalTrafficPolicy"]] == "Cluster")
            #expect(s[path: ["spec", "ports"]] == [["name": "grpc-xds", "port": 15012, "protocol": "TCP", "targetPort": 15012],
                                                   ["name": "https-webhook", "port": 443, "protocol": "TCP", "targetPort": 15017]])
        }
    }

    static let unknownField = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm, namespace: default}
        data: {a: b}
        bogus: 1
        """

    @Test func fieldValidationStrictWarnIgnoreAsKubectlSeesThem() async throws {
        try await TestSim.with("validation") { t in
            let file = try write(t, "cm.yaml", Self.unknownField)
            // kubectl's default (--validate=strict) sends fieldValidation=Strict.
            let strict = try await t.kubectl("apply", "-f", file)
            #expect(strict.status != 0)
            #expect(strict.err.contains(#"strict decoding error: unknown field "bogus""#))
            let warn = try await t.kubectl("apply", "--validate=warn", "-f", file)
            #expect(warn.status == 0)
            #expect(warn.err.contains(#"Warning: unknown field "bogus""#))
            let ignore = ok(try await t.kubectl("apply", "--validate=false", "-f", file))
            #expect(ignore.contains("configmap/cm"))
            let cm = try JSON(data: Data(ok(try await t.kubectl("get", "configmap", "cm", "-n", "default", "-o", "json")).utf8))
            #expect(cm["bogus"] == nil && cm[path: ["data", "a"]] == "b")
        }
    }

    @Test func defaultValidationIsWarnAndTypesAreChecked() async throws {
        try await TestSim.with("types") { t in
            _ = try await t.http("POST", "/api/v1/namespaces", body: ["metadata": ["name": "default"]])
            // No fieldValidation parameter: Warn, with a Warning header, and the field dropped.
            let r = try await t.http("POST", "/api/v1/namespaces/default/configmaps",
                                     body: ["metadata": ["name": "a", "annotations": [:]], "data": ["k": "v"], "spec": ["x": 1]])
            #expect(r.code == 201)
            #expect(r.headers["warning"] == #"299 - "unknown field \"spec\"""#)
            #expect(r.body["spec"] == nil && r.body[path: ["metadata", "annotations"]] == nil)
            let bad = try await t.http("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Sloppy", body: ["metadata": ["name": "b"]])
            #expect(bad.code == 400)
            // A wrong type is refused whatever fieldValidation says, as the real decoder does.
            let typed = try await t.http("POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Ignore", body: [
                "metadata": ["name": "d"], "spec": ["replicas": "three", "selector": ["matchLabels": ["a": "b"]],
                                                    "template": ["metadata": ["labels": ["a": "b"]], "spec": ["containers": [["name": "c", "image": "i"]]]]]])
            #expect(typed.code == 400)
            #expect(typed.body["message"]?.string == #"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#)
            let quantity = try await t.http("POST", "/api/v1/namespaces/default/pods", body: [
                "metadata": ["name": "p"], "spec": ["containers": [["name": "c", "image": "i", "resources": ["limits": ["cpu": "lots"]]]]]])
            #expect(quantity.code == 400)
            #expect(quantity.body["message"]?.string?.hasSuffix(SchemaWalk.quantityFormatError) == true)
        }
    }

    @Test func customResourcesArePrunedAndValidatedByTheirSchema() async throws {
        try await TestSim.with("crd") { t in
            try await t.install(crd: WidgetCRD.definition(group: "example.com", spec: ["type": "object", "properties": [
                "size": ["type": "integer"],
                "free": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
            ]]))
            let cr = { (spec: String) in WidgetCRD.widget(group: "example.com", name: "w", spec: spec) }
            let strict = try await t.kubectl("apply", "-f", try write(t, "w.yaml", cr("{size: 3, colour: red}")))
            #expect(strict.status != 0 && strict.err.contains(#"unknown field "spec.colour""#))
            let warn = try await t.kubectl("apply", "--validate=warn", "-f", try write(t, "w.yaml", cr("{size: 3, colour: red, free: {any: [1]}}")))
            #expect(warn.status == 0 && warn.err.contains(#"Warning: unknown field "spec.colour""#))
            let w = try JSON(data: Data(ok(try await t.kubectl("get", "widget", "w", "-n", "default", "-o", "json")).utf8))
            #expect(w["spec"] == ["size": 3, "free": ["any": [1]]])
            let typed = try await t.kubectl("apply", "--validate=false", "-f", try write(t, "w.yaml", cr("{size: big}")))
            #expect(typed.status != 0 && typed.err.contains(#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#))
        }
    }

    @Test func listMapKeysComeFromTheSchema() async throws {
        try await TestSim.with("listkeys") { t in
            // Two ports with one number, told apart by protocol: the Service schema keys ports by port+protocol.
            _ = ok(try await t.kubectl("apply", "--server-side", "-f", try write(t, "dns.yaml", """
                apiVersion: v1
                kind: Service
                metadata: {name: dns, namespace: default}
                spec:
                  selector: {app: dns}
                  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}]
                """)))
            let s = try JSON(data: Data(ok(try await t.kubectl("get", "service", "dns", "-n", "default", "-o", "json", "--show-managed-fields")).utf8))
            #expect(s[path: ["spec", "ports"]]?.array?.count == 2)
            let fields = s[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"] ?? [:]
            #expect(fields[path: ["f:spec", "f:ports", #"k:{"port":53,"protocol":"UDP"}"#, "f:name"]] == [:])
            #expect(fields[path: ["f:spec", "f:ports", #"k:{"port":53,"protocol":"TCP"}"#, "f:name"]] == [:])

            // Another manager adds a port to the same container: items of a list map merge by key.
            let deployment = { (manager: String, port: Int) in
                try self.write(t, "\(manager).yaml", """
                    apiVersion: apps/v1
                    kind: Deployment
                    metadata: {name: web, namespace: default}
                    spec:
                      selector: {matchLabels: {app: web}}
                      template:
                        metadata: {labels: {app: web}}
                        spec: {containers: [{name: web, image: nginx, ports: [{containerPort: \(port)}]}]}
                    """)
            }
            _ = ok(try await t.kubectl("apply", "--server-side", "--field-manager=one", "-f", try deployment("one", 80)))
            _ = ok(try await t.kubectl("apply", "--server-side", "--field-manager=two", "-f", try deployment("two", 8080)))
            let d = try JSON(data: Data(ok(try await t.kubectl("get", "deployment", "web", "-n", "default", "-o", "json", "--show-managed-fields")).utf8))
            let ports = d[path: ["spec", "template", "spec", "containers"]]?[0]?["ports"]?.array?.compactMap { $0["containerPort"] }
            #expect(ports == [80, 8080])
            let two = (d[path: ["metadata", "managedFields"]]?.array ?? []).first { $0["manager"] == "two" }?["fieldsV1"] ?? [:]
            #expect(two[path: ["f:spec", "f:template", "f:spec", "f:containers", #"k:{"name":"web"}"#, "f:ports", #"k:{"containerPort":8080,"protocol":"TCP"}"#, "."]] == [:])
        }
    }
}
