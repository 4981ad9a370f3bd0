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
            let value = try JSON(yaml: node)
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
        return try JSON(yaml: node)
    }

    /// YAML text for a JSON value, keys sorted.
    public static func serialize(_ value: JSON) -> String {
        (try? Yams.serialize(node: value.yamlNode, sortKeys: true)) ?? "null\n"
    }
}

extension JSON {
    /// A composed YAML node as kubectl and Helm would send it to the API server (`KubectlYAML`): plain scalars resolved
    /// as go-yaml v2 does (`y`, `on`, `0777`, `1e3` included), keys made text, merge keys (`<<`) merged as go-yaml
    /// merges them. Throws, at the node, for what kubectl refuses too (NaN and infinities, a null key, a tag the text
    /// does not fit) and for two keys of one mapping that are one key to Kubernetes (`y` and `yes`, `1` and `"1"`),
    /// which kubectl would resolve by dropping one of them.
    public init(yaml node: Node) throws(YAMLInputError) {
        switch node {
        case .scalar(let s):
            // Most scalars are words that can only be strings: no resolution needed (the fast path of large CRD schemas).
            if s.tag.rawValue.isEmpty, let first = s.string.unicodeScalars.first, s.style != .plain
                || CharacterSet.letters.contains(first) && !"yYnNtTfFoO".unicodeScalars.contains(first) {
                self = .string(s.string); return
            }
            do throws(KubectlYAML.Refusal) {
                let resolved = s.tag.rawValue.isEmpty ? (s.style == .plain ? KubectlYAML.resolve(s.string) : .string(s.string))
                    : try KubectlYAML.resolve(s.string, tag: s.tag.rawValue)
                self = try KubectlYAML.value(resolved)
            } catch {
                throw Self.refusal(error.message, at: node)
            }
        case .mapping(let m):
            // Keys first: two that are one key to Kubernetes are refused before anything under them is looked at.
            var keys: [String?] = []   // nil: a merge
            var keyLines: [String: (text: String, line: Int)] = [:]
            for (k, _) in m {
                if Self.isMergeKey(k) { keys.append(nil); continue }
                let key: String
                do throws(KubectlYAML.Refusal) { key = try KubectlYAML.key(Self.resolvedKey(k)) } catch {
                    throw Self.refusal(error.message, at: k)
                }
                let text = k.string ?? ""
                if let first = keyLines[key] {
                    var e = Self.refusal("the keys '\(first.text)' (line \(first.line)) and '\(text)' are both \"\(key)\" to Kubernetes, "
                                         + "which would keep only one of them", at: k)
                    e.duplicate = .init(path: key, firstLine: first.line)
                    throw e
                }
                keyLines[key] = (text, k.mark?.line ?? 0)
                keys.append(key)
            }
            var o: [String: JSON] = [:]
            for ((_, v), key) in zip(m, keys) {
                if let key { o[key] = try JSON(yaml: v) } else { try Self.merge(v, into: &o) }
            }
            self = .object(o)
        case .sequence(let seq):
            self = .array(try seq.map { n throws(YAMLInputError) in try JSON(yaml: n) })
        case .alias:
            self = .null
        }
    }

    /// A key as go-yaml resolves it: plain keys like plain values, quoted ones as text. (Yams tags every key it
    /// composes `!!str`, so an explicit `!!str` on a plain key is not seen.)
    private static func resolvedKey(_ k: Node) throws(KubectlYAML.Refusal) -> KubectlYAML.Resolved {
        guard case .scalar(let s) = k else {
            throw KubectlYAML.Refusal(message: "a mapping key is a mapping or a list (kubectl refuses it too)")
        }
        let tag = s.tag.rawValue
        if !tag.isEmpty, tag != "tag:yaml.org,2002:str" { return try KubectlYAML.resolve(s.string, tag: tag) }
        return s.style == .plain ? KubectlYAML.resolve(s.string) : .string(s.string)
    }

    /// go-yaml's `isMerge`: a plain, untagged `<<` (or one tagged `!!merge`).
    private static func isMergeKey(_ k: Node) -> Bool {
        guard case .scalar(let s) = k, s.string == "<<" else { return false }
        let tag = s.tag.rawValue
        return s.style == .plain && (tag.isEmpty || tag == "tag:yaml.org,2002:str") || tag == "tag:yaml.org,2002:merge"
    }

    /// go-yaml v2's `merge`: a mapping's members are written over what the mapping has so far (keys after `<<` are
    /// written over them in turn); of a list of mappings, the first wins.
    private static func merge(_ v: Node, into o: inout [String: JSON]) throws(YAMLInputError) {
        switch v {
        case .mapping:
            guard case .object(let members) = try JSON(yaml: v) else { return }
            o.merge(members) { _, merged in merged }
        case .sequence(let items):
            for item in items.reversed() {
                guard case .mapping = item else { throw refusal("a merge (<<) takes a mapping or a list of mappings", at: item) }
                try merge(item, into: &o)
            }
        default:
            throw refusal("a merge (<<) takes a mapping or a list of mappings", at: v)
        }
    }

    private static func refusal(_ message: String, at node: Node) -> YAMLInputError {
        YAMLInputError(line: (node.mark?.line ?? 0), column: (node.mark?.column ?? 0), message: message)
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

    /// A string, quoted when it would otherwise read back as another type or text ("true", "1", "null", "n").
    static func stringNode(_ s: String) -> Node {
        let readsBackAsString = isPlainWord(s) || (!s.isEmpty && (try? YAMLDocuments.composeOne(s)) == .string(s))
        return Node(s, Tag(.str), readsBackAsString ? .any : .doubleQuoted)
    }

    var yamlNode: Node {
        switch self {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(String(d), Tag(.float))
        case .string(let s): return Self.stringNode(s)
        case .array(let a): return Node(a.map { $0.yamlNode })
        case .object(let o):
            // Keys are quoted like values: a plain `n:` or `0x10:` is another key to Kubernetes ("false", "16").
            return Node(o.sorted { $0.key < $1.key }.map { (Self.stringNode($0.key), $0.value.yamlNode) })
        }
    }
}
