import Foundation
import Yams

/// YAML <-> JSON for Kubernetes manifests.
public enum YAMLDocuments {
    /// Every non-empty document of a multi-document YAML stream, as JSON. `List` kinds are not expanded.
    /// `YAMLGuard` checks the text first: limits, alias budget, keys written twice, each refusal with its line.
    public static func parse(_ text: String) throws -> [JSON] {
        try YAMLGuard.check(text)
        var out: [JSON] = []
        // Composed with the basic resolver: Yams hashes every mapping key to check duplicates, and with the
        // default one each hash ran the type regexes. Types are resolved once, below, in JSON(yaml:).
        // Yams' document sequence ends quietly at a bad document and keeps the error aside: rethrow it, or a
        // manifest would lose every object after its first error (a duplicate key, say) without a word.
        var documents = try Yams.compose_all(yaml: text, .basic, .default, .utf8)
        while let node = documents.next() {
            let value = JSON(yaml: node)
            if !value.isNull { out.append(value) }
        }
        if let error = documents.error { throw error }
        return out
    }

    /// One YAML document as JSON (`null` for an empty document).
    public static func parseOne(_ text: String) throws -> JSON {
        try YAMLGuard.check(text)
        return try composeOne(text)
    }

    /// `parseOne` without the guard, for text this process produced itself (`serialize`'s round trip).
    static func composeOne(_ text: String) throws -> JSON {
        guard let node = try Yams.compose(yaml: text, .basic, .default, .utf8) else { return .null }
        return JSON(yaml: node)
    }

    /// YAML text for a JSON value, keys sorted.
    public static func serialize(_ value: JSON) -> String {
        (try? Yams.serialize(node: value.yamlNode, sortKeys: true)) ?? "null\n"
    }
}

extension JSON {
    /// Converts a composed YAML node with YAML 1.1 core-schema resolution (as Kubernetes' sigs.k8s.io/yaml does).
    public init(yaml node: Node) {
        switch node {
        case .scalar(let s):
            if s.style != .plain { self = .string(s.string); return }
            // Most plain scalars are words that can only be strings: skip the resolver's regular expressions,
            // which dominated parsing large CRD schemas. Anything that could be a null, bool, number or
            // timestamp (first character a digit, sign, dot, ~, or one of y n t f o) still goes through them.
            if let first = s.string.unicodeScalars.first, s.tag.rawValue.isEmpty || s.tag.rawValue == "!",
               CharacterSet.letters.contains(first), !"yYnNtTfFoO".unicodeScalars.contains(first) {
                self = .string(s.string); return
            }
            switch Resolver.default.resolveTag(of: node) {
            case .null: self = .null
            case .bool: self = .bool(Bool.construct(from: s) ?? false)
            case .int: self = Int.construct(from: s).map(JSON.int) ?? .string(s.string)
            case .float: self = Double.construct(from: s).map(JSON.double) ?? .string(s.string)
            default: self = .string(s.string)
            }
        case .mapping(let m):
            var o: [String: JSON] = [:]
            for (k, v) in m {
                // Merge keys (`<<`) are rare in manifests; treat the key literally.
                o[k.string ?? String(describing: k)] = JSON(yaml: v)
            }
            self = .object(o)
        case .sequence(let seq):
            self = .array(seq.map { JSON(yaml: $0) })
        case .alias:
            self = .null
        }
    }

    /// Text that reads back as this same string when written plain, known without parsing it (a remote kubeconfig's
    /// base64 CA and token made `serialize` parse each through libyaml, #17): a first letter that starts none of YAML
    /// 1.1's null, bool or number words (the rule `init(yaml:)` uses), then letters, digits and `+/=._-`, none of which
    /// is a YAML indicator inside a plain scalar.
    static func isPlainWord(_ s: String) -> Bool {
        var bytes = s.utf8.makeIterator()
        guard let first = bytes.next(), (65...90).contains(first) || (97...122).contains(first),
              !"yYnNtTfFoO".utf8.contains(first) else { return false }
        while let b = bytes.next() {
            switch b {
            case 48...57, 65...90, 97...122, UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "-"): continue
            default: return false
            }
        }
        return true
    }

    var yamlNode: Node {
        switch self {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(String(d), Tag(.float))
        case .string(let s):
            // Quote strings that would otherwise read back as another type ("true", "1", "null").
            let readsBackAsString = Self.isPlainWord(s) || (!s.isEmpty && (try? YAMLDocuments.composeOne(s)) == .string(s))
            return Node(s, Tag(.str), readsBackAsString ? .any : .doubleQuoted)
        case .array(let a): return Node(a.map { $0.yamlNode })
        case .object(let o):
            return Node(o.sorted { $0.key < $1.key }.map { (Node($0.key), $0.value.yamlNode) })
        }
    }
}
