import Foundation

/// A Kubernetes object, or any part of one, as the API server sends it: untyped JSON.
///
/// Meshform never models Kubernetes kinds as Swift structs: the API has hundreds of kinds and CRDs
/// add more at run time. Every layer (KubeSim, KubeClient, the compiler, the planner) passes `JSON`
/// values, and equality is structural, so a diff is a comparison of values.
///
/// Integers and floating-point numbers are kept apart so that `replicas: 1` round-trips as `1`.
public enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])
}

// MARK: - Reading

extension JSON {
    public subscript(key: String) -> JSON? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else {
                if let newValue { self = .object([key: newValue]) }
                return
            }
            self = .null  // `o` is now the only reference: the dictionary is changed in place, not copied
            o[key] = newValue
            self = .object(o)
        }
    }

    public subscript(index: Int) -> JSON? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    /// The value at a path of object keys, e.g. `obj[path: ["metadata", "name"]]`.
    public subscript(path path: [String]) -> JSON? {
        get {
            var cur: JSON? = self
            for k in path { cur = cur?[k] }
            return cur
        }
        set {
            guard let first = path.first else { if let newValue { self = newValue }; return }
            if path.count == 1 { self[first] = newValue; return }
            var child = self[first] ?? .object([:])
            self[first] = nil  // `child` is now the only reference: changed in place, not copied
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded(): return Int(d)
        default: return nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var object: [String: JSON]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

// MARK: - Literals

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
    public init(nilLiteral: ()) { self = .null }
}

// MARK: - Codable (JSON text)

extension JSON: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses JSON text (with the byte-level reader: the Codable path is far too slow for LIST bodies).
    public init(data: Data) throws {
        self = try JSON.parse(data)
    }

    /// JSON text with sorted keys: the same value always gives the same bytes (hashes, golden files).
    public func encoded(pretty: Bool = false) -> Data {
        if !pretty { return Data(canonicalText.utf8) }
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)) ?? Data("null".utf8)
    }

    public var jsonString: String { canonicalText }
}

// MARK: - Merge patch (RFC 7386)

extension JSON {
    /// Applies a JSON merge patch (RFC 7386): objects merge key by key, `null` deletes, anything else replaces.
    public func applyingMergePatch(_ patch: JSON) -> JSON {
        guard case .object(let p) = patch else { return patch }
        var result = self.object ?? [:]
        for (k, v) in p {
            if v.isNull { result.removeValue(forKey: k) }
            else { result[k] = (result[k] ?? .null).applyingMergePatch(v) }
        }
        return .object(result)
    }
}
