/// An Istio release number, compared numerically ("1.9.8" < "1.10.0").
public struct IstioVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var parts: [Int]

    /// Accepts "1.24.0", "1.24", "v1.24.0" and pre-release suffixes ("1.24.0-beta.1" compares as 1.24.0).
    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("v") { t = t.dropFirst() }
        let core = t.split(separator: "-").first ?? t
        let nums = core.split(separator: ".").map { Int($0) }
        guard nums.count >= 2, nums.count <= 3, nums.allSatisfy({ $0 != nil }) else { return nil }
        parts = nums.map { $0! } + Array(repeating: 0, count: 3 - nums.count)
    }

    public static func < (a: IstioVersion, b: IstioVersion) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
    public var description: String { parts.map(String.init).joined(separator: ".") }
    /// "1.24" of "1.24.3": istioctl of the same minor release renders the same shapes.
    public var minor: String { "\(parts[0]).\(parts[1])" }
}

/// Which revision of the guide's IstioOperator documents a version uses.
///
/// Istio 1.11 changed the external control plane install: the remote config cluster moved from
/// `profile: remote` with the `istiodRemote` component to `profile: external`, and the external istiod
/// to `profile: empty` with the `istio` ConfigMap mounted and `SHARED_MESH_CONFIG`. Meshform writes the
/// form the chosen Istio understands.
public enum IstioOperatorForm: String, Sendable {
    /// The older guide revision (Istio < 1.11; ../shared/guide/external-controlplane.seed.zh.md).
    case legacy
    /// The current guide revision (Istio >= 1.11).
    case current

    public static let firstCurrentVersion = IstioVersion("1.11.0")!

    public init(version: String) {
        self = (IstioVersion(version).map { $0 < Self.firstCurrentVersion } ?? false) ? .legacy : .current
    }
}
