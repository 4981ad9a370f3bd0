import Foundation
import KubeModel

/// Something to wait for on one object. Each condition can say, in words, what it is still waiting for.
public enum WaitCondition: Sendable, Hashable, CustomStringConvertible {
    /// `status.conditions[type] == status`, e.g. Deployment `Available`, CRD `Established`.
    case condition(type: String, status: String = "True")
    /// A Service of type LoadBalancer got an address (`status.loadBalancer.ingress[].ip` or `.hostname`).
    case loadBalancerAddress
    case exists
    case gone
    /// A field is present and not empty, e.g. a Secret's `["data", "token"]`.
    case fieldPresent(path: [String])

    public var description: String {
        switch self {
        case .condition(let type, let status): return "condition \(type)=\(status)"
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
            return (object?[path: ["status", "conditions"]]?.array ?? []).contains {
                $0["type"]?.string == type && $0["status"]?.string == status
            }
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

    /// What was last seen, for the timeout message.
    func lastSeen(_ object: JSON?) -> String {
        guard let object else { return "the object does not exist" }
        switch self {
        case .condition(let type, _):
            guard let c = (object[path: ["status", "conditions"]]?.array ?? []).first(where: { $0["type"]?.string == type }) else {
                let types = (object[path: ["status", "conditions"]]?.array ?? []).compactMap { $0["type"]?.string }
                return "no \(type) condition yet" + (types.isEmpty ? "" : " (conditions: \(types.joined(separator: ", ")))")
            }
            var s = "\(type)=\(c["status"]?.string ?? "?")"
            if let r = c["reason"]?.string { s += " reason \(r)" }
            if let m = c["message"]?.string, !m.isEmpty { s += ": \(m)" }
            return s
        case .loadBalancerAddress: return "status.loadBalancer has no ingress address"
        case .gone:
            let finalizers = (object[path: ["metadata", "finalizers"]]?.array ?? []).compactMap(\.string)
            let deleting = object[path: ["metadata", "deletionTimestamp"]] != nil
            return (deleting ? "deletion in progress" : "still present")
                + (finalizers.isEmpty ? "" : ", finalizers: \(finalizers.joined(separator: ", "))")
        case .exists: return "present"
        case .fieldPresent(let path): return "\(path.joined(separator: ".")) is not set"
        }
    }
}

extension KubeClient {
    /// Polls the object until `condition` holds, and returns it (`.null` for `.gone`).
    /// Throws `KubeError.timeout` saying what it was still waiting for and what it last saw.
    @discardableResult
    public nonisolated func wait(for condition: WaitCondition, gvk: GroupVersionKind, namespace: String?, name: String,
                     timeout: Duration) async throws -> JSON {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var interval = options.pollInterval
        var last: JSON?
        while true {
            last = try await get(gvk, namespace: namespace, name: name)
            if condition.isMet(by: last) { return last ?? .null }
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
