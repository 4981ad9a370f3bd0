import KubeClient
import KubeModel

extension Readiness {
    /// What apply never reads in an object it applied or waits for (its identity, readiness and produced values are
    /// read: `Executor`, `ComputedValues.resolve`): managedFields, and the spec unless the rollout check compares
    /// `spec.replicas` with the status. An Istio CRD's spec is its schema, most of its bytes (#17).
    static func unread(by condition: WaitCondition?) -> JSON.ObjectParts {
        if case .rolledOut? = condition { return .managedFields }
        return [.managedFields, .spec]
    }

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
                                    seen: applied, leavingOut: Self.unread(by: condition)) {
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

/// Writing back an object that a run deleted (rollback and `recover`: `recreate`), and what must finish first
/// (`waitUntilPossible`): a real API server refuses a create while the same name is still being deleted (finalizers:
/// 409 AlreadyExists) or into a namespace that is terminating (403 Forbidden). Waits for both to finish, with progress;
/// a namespace that finished terminating is created again as it was (its own deletion did not complete in this run,
/// so the state still records it).
enum Recreation {
    /// Writes back an object that was deleted, ready for what depends on it: an object still terminating is
    /// waited for until gone (a create over it answers 409 AlreadyExists, and a terminating namespace takes no new
    /// objects: https://kubernetes.io/docs/tasks/administer-cluster/namespaces/#deleting-a-namespace), and afterwards a CustomResourceDefinition is
    /// waited for until Established (its kind is served) and a Namespace until it has its phase (Active), so the
    /// objects recreated after it are accepted. `serverSideApply`: write `body` as Meshform's fields (what the
    /// state records); otherwise create it as it was (a live object, with other managers' fields).
    static func recreate(_ body: JSON, client c: KubeClient, serverSideApply: Bool, timeout: Duration,
                         progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> JSON {
        let t = ObjectRef(cluster: "", object: body)
        // The same name still being deleted, or its namespace terminating: a real server refuses the create.
        try await Recreation.waitUntilPossible(body, client: c, timeout: timeout, progress: progress)
        var created = serverSideApply ? try await c.apply(body, fieldManager: ManagedFields.meshform, force: true) : try await c.create(body)
        let ready: WaitCondition? = switch t.gvk.kind {
        case "CustomResourceDefinition": Readiness.established.condition
        case "Namespace": .fieldPresent(path: ["status", "phase"])
        default: nil
        }
        if let ready {
            created = try await c.wait(for: ready, gvk: t.gvk, namespace: t.namespace, name: t.name, timeout: timeout)
            // A new kind is served once established; forget discovery so its objects are found.
            if t.gvk.kind == "CustomResourceDefinition" { await c.invalidateDiscovery() }
        }
        return created
    }

    static func waitUntilPossible(_ object: JSON, client c: KubeClient, timeout: Duration,
                                  progress: @escaping @Sendable (String) -> Void) async throws {
        let gvk = GroupVersionKind(apiVersion: object.apiVersion ?? "v1", kind: object.kind ?? "")
        if let live = try await c.get(gvk, namespace: object.namespace, name: object.name ?? ""),
           live.isTerminating {
            try await c.wait(for: .gone, gvk: gvk, namespace: object.namespace, name: object.name ?? "", timeout: timeout) {
                progress("the previous \(object.kind ?? "object") to be gone (\($0))")
            }
        }
        let namespaceKind = GroupVersionKind(apiVersion: "v1", kind: "Namespace")
        guard let ns = object.namespace, object.kind != "Namespace",
              let namespace = try await c.get(namespaceKind, namespace: nil, name: ns),
              namespace.isTerminating else { return }
        try await c.wait(for: .gone, gvk: namespaceKind, namespace: nil, name: ns, timeout: timeout) {
            progress("namespace \(ns) to finish terminating (\($0))")
        }
        var fresh = ServerOwnedFields.restorable(namespace)
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
