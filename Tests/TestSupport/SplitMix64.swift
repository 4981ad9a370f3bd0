import KubeModel

/// A small seeded generator (SplitMix64), so that a failing case can be run again by its seed.
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    public mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
    public mutating func pick<T>(_ options: [T]) -> T { options[int(0...(options.count - 1))] }
    /// A random subset in random order (possibly empty).
    public mutating func subset<T>(_ options: [T]) -> [T] {
        var chosen = options.filter { _ in chance(0.5) }
        for i in chosen.indices.reversed() where i > 0 { chosen.swapAt(i, int(0...i)) }
        return chosen
    }
    /// A map with a random subset of the keys, each with one of its values.
    public mutating func map(_ pools: KeyValuePairs<String, [String]>) -> JSON {
        var out: [String: JSON] = [:]
        for (k, values) in pools where chance(0.6) { out[k] = .string(pick(values)) }
        return .object(out)
    }
}
