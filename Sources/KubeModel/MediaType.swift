import Foundation

/// One media type or media range with its parameters, as in an Accept or Content-Type header
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`): the type lowercased, parameter names
/// lowercased, values as written. Aggregated discovery is asked for and answered by these parameters, which
/// KubeSim reads in Accept and KubeClient in Content-Type.
public struct MediaType: Sendable, Equatable {
    public var type: String
    public var parameters: [String: String]

    public init(_ text: some StringProtocol) {
        let parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        type = parts.first?.lowercased() ?? ""
        var parameters: [String: String] = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2 { parameters[kv[0].lowercased()] = kv[1] }
        }
        self.parameters = parameters
    }

    /// The ranges of an Accept header, in the order written.
    public static func ranges(accept: String) -> [MediaType] { accept.split(separator: ",").map(MediaType.init) }

    /// `v2` or `v2beta1` when this is aggregated discovery's `APIGroupDiscoveryList` (`application/json` with
    /// `g=apidiscovery.k8s.io`, `as=APIGroupDiscoveryList` and that `v`, in any order; client-go's `ContentTypeIsGVK`,
    /// kubernetes/kubernetes staging/src/k8s.io/client-go/discovery/discovery_client.go), else nil.
    public var aggregatedDiscoveryVersion: String? {
        guard type == "application/json", parameters["g"] == "apidiscovery.k8s.io", parameters["as"] == "APIGroupDiscoveryList",
              let v = parameters["v"], v == "v2" || v == "v2beta1" else { return nil }
        return v
    }
}
