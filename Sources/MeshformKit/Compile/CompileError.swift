import KubeModel

/// Why a mesh could not be compiled; each case says what to change.
public enum CompileError: Error, CustomStringConvertible {
    case unreadableFile(path: String, what: String)
    case conflictingObjects(ResourceAddress, first: String, second: String)
    case missingGatewayService(ResourceAddress)
    case cycle(GraphCycleError)
    case badObject(component: String, reason: String)
    /// A manifest file refused by `YAMLGuard` or the YAML parser, at its line and column.
    case invalidManifest(path: String, line: Int, column: Int, message: String, what: String)

    public var description: String {
        switch self {
        case .unreadableFile(let p, let what):
            return "cannot read the \(what) at \(p); check the path in the mesh file"
        case .invalidManifest(let p, let line, let column, let message, let what):
            return "\(p):\(line):\(column): error: \(message) (the \(what))"
        case .conflictingObjects(let a, let first, let second):
            return "\(a) is produced differently by \(first) and \(second); remove it from one of them (a workload manifest, or the renderer's output)"
        case .missingGatewayService(let a):
            return "controlPlane.address is \(MeshFile.gatewayLoadBalancerWord), but the rendered components contain no Service \(a) to read it from; check controlPlane.gateway's name and namespace"
        case .cycle(let e):
            return e.description
        case .badObject(let c, let reason):
            return "\(c) produced an object Meshform cannot place: \(reason)"
        }
    }
}
