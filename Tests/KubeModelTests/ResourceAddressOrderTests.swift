import KubeModel
import Testing

/// `ResourceAddress` orders by its text (plans, graphs and journals rely on it), now compared segment by segment.
@Suite struct ResourceAddressOrderTests {
    /// Segments chosen so that prefixes, bytes on either side of `/` (0x2F: `-` and `.` below it, digits and letters
    /// above), `_` (the cluster-scoped namespace) and non-ASCII text meet.
    static let segments = ["a", "a-b", "a.b", "a0", "aB", "ab", "b", "_", "A", "é", "e", "ée", "ab-c"]

    @Test func orderIsTheOrderOfTheText() {
        // Every pair of segments meets in the cluster, the namespace (nil is `_`) and the name.
        var addresses: [ResourceAddress] = []
        for x in Self.segments {
            for y in Self.segments + [nil] {
                addresses.append(ResourceAddress(cluster: x, group: "core", kind: "ConfigMap", namespace: y, name: "n"))
                addresses.append(ResourceAddress(cluster: "c", group: x, kind: "K", namespace: y, name: y ?? "m"))
            }
        }
        for a in addresses {
            for b in addresses {
                #expect((a < b) == (a.description < b.description), "\(a) < \(b)")
            }
        }
        #expect(addresses.sorted().map(\.description) == addresses.map(\.description).sorted())
    }

    @Test func aSegmentThatIsAPrefixComparesItsSlash() {
        let short = ResourceAddress(cluster: "r1", group: "core", kind: "ConfigMap", namespace: "a", name: "z")
        // "r1/core/ConfigMap/a/z" against "r1/core/ConfigMap/a-b/c": '/' (0x2F) sorts after '-' (0x2D).
        let dash = ResourceAddress(cluster: "r1", group: "core", kind: "ConfigMap", namespace: "a-b", name: "c")
        // ... and before '0' (0x30).
        let digit = ResourceAddress(cluster: "r1", group: "core", kind: "ConfigMap", namespace: "a0", name: "c")
        #expect(dash < short && !(short < dash))
        #expect(short < digit && !(digit < short))
        #expect(!(short < short))
    }
}
