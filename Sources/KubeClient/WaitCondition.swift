import Foundation
import KubeModel

/// Something to wait for on one object. Each condition can say, in words, what it is still waiting for.
public enum WaitCondition: Sendable, Hashable, CustomStringConvertible {
    /// `status.conditions[type] == status`, e.g. CRD `Established`, for the object's current generation: a status
    /// whose `observedGeneration` (object's or condition's) is older describes the previous spec.
    case condition(type: String, status: String = "True")
    /// A Deployment's rollout is complete, as `kubectl rollout status` decides (k8s.io/kubectl
    /// pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer): the controller has observed this generation,
    /// every replica is updated, no old replica is left, and every updated replica is available. A rollout past its
    /// progress deadline (`Progressing` reason `ProgressDeadlineExceeded`) fails the wait at once.
    case rolledOut
    /// A Service of type LoadBalancer got an address (`status.loadBalancer.ingress[].ip` or `.hostname`).
    case loadBalancerAddress
    case exists
    case gone
    /// A field is present and not empty, e.g. a Secret's `["data", "token"]`.
    case fieldPresent(path: [String])

    public var description: String {
        switch self {
        case .condition(let type, let status): return "condition \(type)=\(status)"
        case .rolledOut: return "the rollout to complete"
        case .loadBalancerAddress: return "a load balancer address"
        case .exists: return "the object to exist"
        case .gone: return "the object to be gone"
        case .fieldPresent(let path): return "field \(path.joined(separator: ".")) to be set"
        }
    }

    /// Whether `object` (nil when it does not exist) satisfies the condition.
    public func isMet(by object: JSON?) -> Bool {
        switch self {
        case .gone: return object == nil
        case .exists: return object != nil
        case .condition(let type, let status):
            guard let object, Self.observed(object) else { return false }
            let generation = object[path: ["metadata", "generation"]]?.int ?? 0
            return (object[path: ["status", "conditions"]]?.array ?? []).contains {
                $0["type"]?.string == type && $0["status"]?.string == status && ($0["observedGeneration"]?.int ?? generation) >= generation
            }
        case .rolledOut:
            guard let object, Self.observed(object) else { return false }
            let r = Replicas(object)
            return r.updated >= r.desired && r.total <= r.updated && r.available >= r.updated
        case .loadBalancerAddress:
            return (object?[path: ["status", "loadBalancer", "ingress"]]?.array ?? []).contains {
                !($0["ip"]?.string ?? "").isEmpty || !($0["hostname"]?.string ?? "").isEmpty
            }
        case .fieldPresent(let path):
            guard let v = object?[path: path] else { return false }
            switch v {
            case .null: return false
            case .string(let s): return !s.isEmpty
            case .object(let o): return !o.isEmpty
            case .array(let a): return !a.isEmpty
            default: return true
            }
        }
    }

    /// Whether the controller has seen the object's current spec (`status.observedGeneration` >= `metadata.generation`);
    /// true for kinds that do not report it.
    static func observed(_ object: JSON) -> Bool {
        guard let seen = object[path: ["status", "observedGeneration"]]?.int else { return true }
        return seen >= (object[path: ["metadata", "generation"]]?.int ?? 0)
    }

    /// A Deployment's replica counts (absent: 0, as the API's omitempty drops zeros; `spec.replicas` defaults to 1).
    struct Replicas {
        var desired, updated, total, available: Int
        init(_ o: JSON) {
            desired = o[path: ["spec", "replicas"]]?.int ?? 1
            updated = o[path: ["status", "updatedReplicas"]]?.int ?? 0
            total = o[path: ["status", "replicas"]]?.int ?? 0
            available = o[path: ["status", "availableReplicas"]]?.int ?? 0
        }
    }

    /// A state the condition can no longer reach by waiting: the wait fails at once with this.
    public func failure(_ object: JSON?) -> String? {
        guard case .rolledOut = self, let object, Self.observed(object) else { return nil }
        let progressing = (object[path: ["status", "conditions"]]?.array ?? []).first { $0["type"]?.string == "Progressing" }
        guard progressing?["reason"]?.string == "ProgressDeadlineExceeded" else { return nil }
        return "the rollout exceeded its progress deadline" + (progressing?["message"]?.string.map { ": \($0)" } ?? "")
    }

    /// What was last seen, for progress and the timeout message.
    public func lastSeen(_ object: JSON?) -> String {
        guard let object else { return "the object does not exist" }
        if case .gone = self {} else if !Self.observed(object) { return "the controller has not yet observed generation \(object[path: ["metadata", "generation"]]?.int ?? 0)" }
        switch self {
        case .rolledOut:
            // kubectl rollout status's words, and why pods are missing when the controller says: a ReplicaSet that
            // cannot create them (an admission webhook refusing, a quota) sets ReplicaFailure, which the Deployment
            // carries (pkg/controller/deployment/sync.go).
            let r = Replicas(object)
            let failure = (object[path: ["status", "conditions"]]?.array ?? [])
                .first { $0["type"]?.string == "ReplicaFailure" && $0["status"]?.string == "True" }?["message"]?.string
            let why = failure.map { "; pods cannot be created: \($0)" } ?? ""
            if r.updated < r.desired { return "\(r.updated) out of \(r.desired) new replicas have been updated" + why }
            if r.total > r.updated { return "\(r.total - r.updated) old replicas are pending termination" + why }
            return "\(r.available) of \(r.updated) updated replicas are available" + why

        case .condition(let type, _):
            guard let c = (object[path: ["status", "conditions"]]?.array ?? []).first(where: { $0["type"]?.string == type }) else {
                let types = (object[path: ["status", "conditions"]]?.array ?? []).compactMap { $0["type"]?.string }
                return "no \(type) condition yet" + (types.isEmpty ? "" : " (conditions: \(types.joined(separator: ", ")))")
            }
            var s = "\(type)=\(c["status"]?.string ?? "?")"
            if let r = c["reason"]?.string { s += " reason \(r)" }
            if let m = c["message"]?.string, !m.isEmpty { s += ": \(m)" }
            return s
        case .loadBalancerAddress:
            return "status.loadBalancer has no ingress address; the cluster may have no load-balancer controller "
                + "(kind, minikube and bare metal have none unless one such as MetalLB is installed)"
        case .gone:
            let finalizers = (object[path: ["metadata", "finalizers"]]?.array ?? []).compactMap(\.string)
            let deleting = object[path: ["metadata", "deletionTimestamp"]] != nil
            var s = deleting ? "deletion in progress" : "still present"
            if object[path: ["status", "phase"]]?.string == "Terminating" {
                // A namespace says what keeps it (NamespaceContentRemaining, NamespaceFinalizersRemaining...).
                let holding = (object[path: ["status", "conditions"]]?.array ?? [])
                    .filter { $0["status"]?.string == "True" }.compactMap { $0["message"]?.string }
                s = "namespace terminating" + (holding.isEmpty ? "" : " (\(holding.joined(separator: "; ")))")
            }
            let specFinalizers = (object[path: ["spec", "finalizers"]]?.array ?? []).compactMap(\.string)
            let all = finalizers + specFinalizers
            return s + (all.isEmpty ? "" : ", finalizers: \(all.joined(separator: ", "))")
        case .exists: return "present"
        case .fieldPresent(let path): return "\(path.joined(separator: ".")) is not set"
        }
    }
}

extension KubeClient {
    /// Polls the object until `condition` holds, and returns it (`.null` for `.gone`), looking again after
    /// `options.pollInterval`, then twice as long each time, up to 2 s: a short first look for what a controller settles
    /// at once, few requests for what takes minutes.
    /// Throws `KubeError.timeout` saying what it was still waiting for and what it last saw.
    /// `seen`: the object as the caller just got it (an apply's answer), looked at first instead of reading it again
    /// (unless `timeout` is shorter than one interval: then the one look there is time for is a fresh read).
    /// `progress` hears what is still awaited each time that changes (replicas, finalizers, a namespace's content).
    /// `leavingOut`: parts of the object the reads leave unbuilt, which `condition` does not look at.
    @discardableResult
    public nonisolated func wait(for condition: WaitCondition, gvk: GroupVersionKind, namespace: String?, name: String,
                     timeout: Duration, seen: JSON? = nil, leavingOut: JSON.ObjectParts = [],
                     progress: (@Sendable (String) -> Void)? = nil) async throws -> JSON {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var interval = options.pollInterval
        var last: JSON?
        var told: String?
        var known = timeout >= interval ? seen : nil
        while true {
            if let seen = known { last = seen; known = nil } else { last = try await get(gvk, namespace: namespace, name: name, leavingOut: leavingOut) }
            if condition.isMet(by: last) { return last ?? .null }
            if let failure = condition.failure(last) {
                throw KubeError.timeout(site("wait", Self.describe(gvk, namespace, name)),
                                        waitingFor: "\(condition) on \(Self.describe(gvk, namespace, name)): \(failure)")
            }
            if let progress, told != condition.lastSeen(last) { told = condition.lastSeen(last); progress(told!) }
            let remaining = deadline - clock.now
            if remaining <= .zero { break }
            try await Task.sleep(for: min(interval, remaining))
            interval = min(interval * 2, .seconds(2))
        }
        let what = Self.describe(gvk, namespace, name)
        throw KubeError.timeout(site("wait", what),
                                waitingFor: "\(condition) on \(what) after \(timeout) (last seen: \(condition.lastSeen(last)))")
    }
}
