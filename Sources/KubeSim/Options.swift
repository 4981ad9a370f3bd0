import Foundation

/// How one KubeSim starts: its name (the kubeconfig's cluster/context), port, optional data directory,
/// how long its controllers take, and the faults it injects.
public struct KubeSimOptions: Sendable {
    public var name: String
    /// 0 picks a free port.
    public var port: Int
    /// When set, objects, tokens and the CA survive a restart (a JSON snapshot in this directory).
    public var dataDir: String?
    /// How long a controller waits before reporting status (Deployment Available, LoadBalancer IP, CRD Established...).
    public var controllerDelay: Duration
    public var faults: FaultSettings
    /// Offer HTTP/2 through ALPN beside HTTP/1.1, as kube-apiserver does (and as kubectl and AsyncHTTPClient then
    /// choose). False serves HTTP/1.1 only, so that path stays testable.
    public var http2: Bool

    public init(name: String, port: Int = 0, dataDir: String? = nil,
                controllerDelay: Duration = .milliseconds(50), faults: FaultSettings = FaultSettings(), http2: Bool = true) {
        self.name = name; self.port = port; self.dataDir = dataDir
        self.controllerDelay = controllerDelay; self.faults = faults; self.http2 = http2
    }
}

/// Faults KubeSim injects into resource requests, so the engine's retry and rollback paths can be tested,
/// and the missing parts of a real cluster it can imitate (no load-balancer controller, pods never ready).
///
/// Latency applies to every request; errors and drops only to resource requests (not discovery, OpenAPI,
/// /version), so a client can always start. `failWrites` names objects as `namespace/name`,
/// `Kind/namespace/name` or, cluster-scoped, `Kind//name` (kind case-insensitive); every create, update,
/// patch or delete of such an object answers 500 until it is removed from the set.
public struct FaultSettings: Sendable, Codable, Equatable {
    public var latencyMs: Int
    public var jitterMs: Int
    /// Probability (0...1) that a resource request answers with one of `errorCodes`.
    public var errorRate: Double
    /// Codes to pick from: 500, 503, 429 (429 carries Retry-After).
    public var errorCodes: [Int]
    public var retryAfterSeconds: Int
    /// Probability (0...1) that the connection is closed without an answer.
    public var dropRate: Double
    public var failWrites: Set<String>
    /// No load-balancer controller, as on kind or bare metal: LoadBalancer Services never get an address.
    public var noLoadBalancer: Bool
    /// Pods never become ready (an image that cannot be pulled): Deployments never become Available.
    public var podsNeverReady: Bool
    /// ReplicaSets create Pod objects. Off by default: ReplicaSets' pods go through no admission webhooks, so they would
    /// lack what a mesh's injector adds (and a real cluster whose injector is unreachable creates none); off,
    /// a ReplicaSet reports its replicas ready (or none, with `podsNeverReady`) without Pod objects.
    public var runPods: Bool
    /// Admission webhooks are called at their URL (AdmissionReview v1 over HTTPS, trusting the caBundle), with
    /// failurePolicy applied when one cannot be reached. Off by default: tests' webhook configurations mostly point
    /// at an istiod that does not exist, where a real cluster would refuse the writes.
    public var callWebhooks: Bool
    /// Discovery only in the legacy form, as a server before Kubernetes 1.26 (or with the AggregatedDiscoveryEndpoint
    /// feature gate off): `/api` and `/apis` ignore a request for the aggregated form.
    public var legacyDiscovery: Bool

    public init(latencyMs: Int = 0, jitterMs: Int = 0, errorRate: Double = 0, errorCodes: [Int] = [500, 503, 429],
                retryAfterSeconds: Int = 1, dropRate: Double = 0, failWrites: Set<String> = [],
                noLoadBalancer: Bool = false, podsNeverReady: Bool = false, runPods: Bool = false,
                callWebhooks: Bool = false, legacyDiscovery: Bool = false) {
        self.latencyMs = latencyMs; self.jitterMs = jitterMs; self.errorRate = errorRate; self.errorCodes = errorCodes
        self.retryAfterSeconds = retryAfterSeconds; self.dropRate = dropRate; self.failWrites = failWrites
        self.noLoadBalancer = noLoadBalancer; self.podsNeverReady = podsNeverReady; self.runPods = runPods
        self.callWebhooks = callWebhooks; self.legacyDiscovery = legacyDiscovery
    }

    /// Decodes partial settings: absent keys keep their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FaultSettings()
        latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs) ?? d.latencyMs
        jitterMs = try c.decodeIfPresent(Int.self, forKey: .jitterMs) ?? d.jitterMs
        errorRate = try c.decodeIfPresent(Double.self, forKey: .errorRate) ?? d.errorRate
        errorCodes = try c.decodeIfPresent([Int].self, forKey: .errorCodes) ?? d.errorCodes
        retryAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? d.retryAfterSeconds
        dropRate = try c.decodeIfPresent(Double.self, forKey: .dropRate) ?? d.dropRate
        failWrites = try c.decodeIfPresent(Set<String>.self, forKey: .failWrites) ?? d.failWrites
        noLoadBalancer = try c.decodeIfPresent(Bool.self, forKey: .noLoadBalancer) ?? d.noLoadBalancer
        podsNeverReady = try c.decodeIfPresent(Bool.self, forKey: .podsNeverReady) ?? d.podsNeverReady
        runPods = try c.decodeIfPresent(Bool.self, forKey: .runPods) ?? d.runPods
        callWebhooks = try c.decodeIfPresent(Bool.self, forKey: .callWebhooks) ?? d.callWebhooks
        legacyDiscovery = try c.decodeIfPresent(Bool.self, forKey: .legacyDiscovery) ?? d.legacyDiscovery
    }

    /// Whether a write to this object must fail.
    func failsWrite(kind: String, namespace: String, name: String) -> Bool {
        if failWrites.isEmpty { return false }
        if failWrites.contains("\(namespace)/\(name)") { return true }
        let k = kind.lowercased()
        return failWrites.contains { entry in
            let parts = entry.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 3 && parts[0].lowercased() == k && parts[1] == namespace && parts[2] == name
        }
    }
}
