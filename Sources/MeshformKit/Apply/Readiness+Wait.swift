import KubeClient
import KubeModel

extension Readiness {
    /// What apply waits for after applying an object with this readiness, before its dependents run.
    var condition: WaitCondition? {
        switch self {
        case .none: return nil
        case .established: return .condition(type: "Established")
        case .available: return .rolledOut
        case .loadBalancerAddress: return .loadBalancerAddress
        case .tokenPopulated: return .fieldPresent(path: ["data", "token"])
        }
    }

    /// Waits until `r`, just applied (`applied`: the server's answer, looked at first), is ready, telling `progress`
    /// what it still waits for as that changes. A load-balancer address that never comes is a `ReadinessError` saying
    /// what to do instead.
    func wait(for r: Resource, applied: JSON? = nil, client c: KubeClient, timeout: Duration,
              progress: @escaping @Sendable (String) -> Void) async throws -> JSON? {
        guard let condition else { return nil }
        let gvk = GroupVersionKind(apiVersion: r.body.apiVersion ?? "v1", kind: r.body.kind ?? "")
        progress(condition.description)
        do {
            return try await c.wait(for: condition, gvk: gvk, namespace: r.body.namespace, name: r.body.name ?? "", timeout: timeout,
                                    seen: applied) {
                progress("\(condition) (\($0))")
            }
        } catch KubeError.timeout where self == .loadBalancerAddress {
            throw ReadinessError.noLoadBalancerAddress(service: r.address.description, waited: timeout)
        }
    }
}

public enum ReadinessError: Error, CustomStringConvertible {
    case noLoadBalancerAddress(service: String, waited: Duration)

    public var description: String {
        switch self {
        case .noLoadBalancerAddress(let s, let w):
            return "\(s) got no load-balancer address in \(w): the cluster may have no load-balancer controller (kind, "
                + "minikube and bare metal have none unless one such as MetalLB is installed). Install one, or expose the "
                + "gateway yourself and set controlPlane.address in the mesh file to that hostname or IP instead of "
                + "gateway-load-balancer."
        }
    }
}

/// Before a rollback recreates an object it deleted: a real API server refuses a create while the same name is still
/// being deleted (finalizers: 409 AlreadyExists) or into a namespace that is terminating (403 Forbidden). Waits for
/// both to finish, with progress; a namespace that finished terminating is created again as it was (its own deletion
/// did not complete in this run, so the state still records it).
enum Recreation {
    static func waitUntilPossible(_ object: JSON, client c: KubeClient, timeout: Duration,
                                  progress: @escaping @Sendable (String) -> Void) async throws {
        let gvk = GroupVersionKind(apiVersion: object.apiVersion ?? "v1", kind: object.kind ?? "")
        if let live = try await c.get(gvk, namespace: object.namespace, name: object.name ?? ""),
           live[path: ["metadata", "deletionTimestamp"]] != nil {
            try await c.wait(for: .gone, gvk: gvk, namespace: object.namespace, name: object.name ?? "", timeout: timeout) {
                progress("the previous \(object.kind ?? "object") to be gone (\($0))")
            }
        }
        let namespaceKind = GroupVersionKind(apiVersion: "v1", kind: "Namespace")
        guard let ns = object.namespace, object.kind != "Namespace",
              let namespace = try await c.get(namespaceKind, namespace: nil, name: ns),
              namespace[path: ["metadata", "deletionTimestamp"]] != nil else { return }
        try await c.wait(for: .gone, gvk: namespaceKind, namespace: nil, name: ns, timeout: timeout) {
            progress("namespace \(ns) to finish terminating (\($0))")
        }
        var fresh = Executor.restorable(namespace)
        fresh["spec"] = nil    // spec.finalizers is the server's to set
        _ = try await c.create(fresh)
    }
}

extension CompiledMesh {
    /// The resource at an address in its text form.
    func resource(at text: String) -> Resource? {
        (try? ResourceAddress(parsing: text)).flatMap { resource(at: $0) }
    }
}
