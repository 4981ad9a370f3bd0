import KubeClient

extension Readiness {
    /// What apply waits for after applying an object with this readiness, before its dependents run.
    var condition: WaitCondition? {
        switch self {
        case .none: return nil
        case .established: return .condition(type: "Established")
        case .available: return .condition(type: "Available")
        case .loadBalancerAddress: return .loadBalancerAddress
        case .tokenPopulated: return .fieldPresent(path: ["data", "token"])
        }
    }
}

extension CompiledMesh {
    /// The resource at an address in its text form.
    func resource(at text: String) -> Resource? {
        (try? ResourceAddress(parsing: text)).flatMap { resource(at: $0) }
    }
}
