import KubeModel
import Yams

/// Reads YAML nodes against the mesh file's schema, collecting every problem with its line and column
/// instead of stopping at the first, and remembering where each value was written (`sourceMap`).
final class MeshFileReader {
    let file: String
    let environment: [String: String]
    private(set) var diagnostics: [MeshFileError.Diagnostic] = []
    private(set) var sourceMap: [String: SourceLocation] = [:]

    init(file: String, environment: [String: String]) { self.file = file; self.environment = environment }

    func location(_ node: Node?) -> SourceLocation {
        let m = node?.mark
        return SourceLocation(file: file, line: m?.line ?? 1, column: m?.column ?? 1)
    }

    func error(_ at: SourceLocation, _ message: String, fix: String) {
        diagnostics.append(.init(location: at, message: message, fix: fix))
    }
    func error(_ node: Node?, _ message: String, fix: String) { error(location(node), message, fix: fix) }

    func remember(_ path: String, _ node: Node) { sourceMap[path] = location(node) }

    /// A mapping with only `known` keys (unknown and duplicate keys are errors); nil if the node is not a mapping.
    func mapping(_ node: Node, path: String, known: [String]) -> [String: Node]? {
        remember(path, node)
        guard case .mapping(let m) = node else {
            let what = path.isEmpty ? "the mesh file" : path
            error(node, "\(what) must be a mapping (key: value lines), found \(describe(node))",
                  fix: "write \(what) as indented `key: value` lines; known keys: \(known.joined(separator: ", ")).")
            return nil
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else { error(k, "a key in \(path) is not text", fix: "use a plain word as the key."); continue }
            let here = path.isEmpty ? key : "\(path).\(key)"
            if !known.contains(key) {
                let hint = closest(key, in: known).map { "did you mean '\($0)'? " } ?? ""
                error(k, "unknown field '\(key)' in \(path.isEmpty ? "the mesh file" : path)",
                      fix: "\(hint)known fields here: \(known.joined(separator: ", ")).")
                continue
            }
            if out[key] != nil {
                error(k, "field '\(here)' is written twice", fix: "keep one '\(key):' line and delete the other.")
                continue
            }
            out[key] = v
            remember(here, v)
        }
        return out
    }

    func list(_ node: Node?, path: String) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let s) = node else {
            error(node, "\(path) must be a list, found \(describe(node))", fix: "write each item of \(path) on its own line starting with '- '.")
            return nil
        }
        for (i, item) in s.enumerated() { remember("\(path)[\(i)]", item) }
        return Array(s)
    }

    /// A text value with `${VAR}` substituted.
    func string(_ node: Node?, path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node, !(s.style == .plain && Resolver.default.resolveTag(of: node) == .null) else {
            error(node, "\(path) must be text, found \(describe(node))", fix: "write a single value after '\(leaf(path)):'.")
            return nil
        }
        do { return try EnvironmentSubstitution.substitute(s.string, environment: environment) } catch EnvironmentSubstitution.Failure.unset(let name) {
            error(node, "\(path) uses ${\(name)}, which is not set in the environment",
                  fix: "export \(name)=... before running meshform (as the guide does), or write the value in the file.")
        } catch {
            self.error(node, "\(path) has '${' without a closing '}'", fix: "close the variable reference as ${NAME}, or write $${ for a literal '${'.")
        }
        return nil
    }

    func int(_ node: Node?, path: String) -> Int? {
        guard let node, let text = string(node, path: path) else { return nil }
        guard let i = Int(text) else {
            error(node, "\(path) must be a whole number, found '\(text)'", fix: "write a number such as 15012.")
            return nil
        }
        return i
    }

    func bool(_ node: Node?, path: String) -> Bool? {
        guard let node, let text = string(node, path: path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(node, "\(path) must be true or false, found '\(text)'", fix: "write \(leaf(path)): true or \(leaf(path)): false.")
            return nil
        }
    }

    func stringList(_ node: Node?, path: String) -> [String]? {
        guard let items = list(node, path: path) else { return nil }
        return items.enumerated().compactMap { string($1, path: "\(path)[\($0)]") }
    }

    func stringMap(_ node: Node?, path: String) -> [String: String]? {
        guard let node else { return nil }
        guard case .mapping(let m) = node else {
            error(node, "\(path) must be a mapping of names to values, found \(describe(node))", fix: "write `NAME: value` lines under \(path).")
            return nil
        }
        var out: [String: String] = [:]
        for (k, v) in m {
            guard let key = k.string else { continue }
            if let s = string(v, path: "\(path).\(key)") { out[key] = s }
        }
        return out
    }

    /// Any YAML value as JSON, `${VAR}` substituted in text (for free-form Istio settings).
    func json(_ node: Node?, path: String) -> JSON? {
        guard let node else { return nil }
        switch node {
        case .scalar(let s):
            if s.style == .plain, s.string.contains("${") {
                guard let t = string(node, path: path) else { return nil }
                return (try? YAMLDocuments.parseOne(t)) ?? .string(t)
            }
            if s.style != .plain { return string(node, path: path).map(JSON.string) }
            do { return try JSON(yaml: node) } catch {
                self.error(node, "\(path): \(error.message)", fix: "write the value kubectl would accept, or quote it for text.")
                return nil
            }
        case .mapping(let m):
            var o: [String: JSON] = [:]
            for (k, v) in m { if let key = k.string, let j = json(v, path: "\(path).\(key)") { o[key] = j } }
            return .object(o)
        case .sequence(let s):
            return .array(s.enumerated().compactMap { json($1, path: "\(path)[\($0)]") })
        case .alias:
            return .null
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "nothing" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private func leaf(_ path: String) -> String {
        String(path.split(separator: ".").last ?? Substring(path)).replacingOccurrences(of: #"\[\d+\]"#, with: "", options: .regularExpression)
    }
}
