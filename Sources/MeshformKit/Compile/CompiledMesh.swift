import KubeModel

/// The compiler's output: every object of the mesh, on its cluster, in a deterministic apply order.
public struct CompiledMesh: Sendable {
    public var topology: MeshTopology
    /// Topological order (dependencies first; ties broken by address), so the same mesh file gives the same list.
    public var resources: [Resource]
    /// SHA-256 (hex) of the mesh file and every compiled object, rendered ones included (`Compiler.configHash`).
    public var configHash: String
    /// The Istio components, in install order, with the IstioOperator documents that were rendered.
    public var components: [IstioComponent]
    public var graph: ResourceGraph

    private let index: [ResourceAddress: Int]

    init(topology: MeshTopology, resources: [Resource], configHash: String, components: [IstioComponent], graph: ResourceGraph) {
        self.topology = topology; self.resources = resources; self.configHash = configHash
        self.components = components; self.graph = graph
        var idx: [ResourceAddress: Int] = [:]
        for (i, r) in resources.enumerated() { idx[r.address] = i }
        self.index = idx
    }

    public func resource(at address: ResourceAddress) -> Resource? { index[address].map { resources[$0] } }

    /// Every computed value in the mesh, once each, in apply order of the resources that contain them.
    public var computedValues: [ComputedValue] {
        var seen: Set<ComputedValue> = []
        return resources.flatMap(\.computed).filter { seen.insert($0).inserted }
    }
}
