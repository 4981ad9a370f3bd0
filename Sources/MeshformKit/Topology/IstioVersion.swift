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

/// Which revision of the guide's IstioOperator documents a version uses (../shared/guide/README.md).
///
/// Istio 1.11 moved the config cluster from `profile: remote` with the `istiodRemote` component to
/// `profile: external`, and the external istiod to `profile: empty` with the `istio` ConfigMap mounted and
/// `SHARED_MESH_CONFIG`. Istio 1.22 removed `profile: external` (istio/istio operator/pkg/render/manifest.go):
/// the config cluster is `profile: remote` with `global.configCluster: true`, and injection URLs use path
/// segments (`/inject/cluster/X/net/Y`). Meshform writes the form the chosen Istio accepts.
public enum IstioOperatorForm: String, Sendable, CaseIterable {
    /// The seed revision (Istio < 1.11; ../shared/guide/external-controlplane.seed.zh.md).
    case seed
    /// istio/istio.io 02e24d62 (Istio 1.11 to 1.21).
    case middle
    /// istio/istio.io 8892748a (Istio 1.22 and later).
    case newest

    public static let firstMiddleVersion = IstioVersion("1.11.0")!
    public static let firstNewestVersion = IstioVersion("1.22.0")!

    /// An unreadable version (validation reports it) gets the newest form.
    public init(version: String) {
        guard let v = IstioVersion(version) else { self = .newest; return }
        self = v < Self.firstMiddleVersion ? .seed : v < Self.firstNewestVersion ? .middle : .newest
    }
}
