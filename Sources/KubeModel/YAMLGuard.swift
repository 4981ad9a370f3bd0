import CYaml
import Foundation

/// A YAML text refused before it is composed, at the line and column (1-based) of the problem.
public struct YAMLInputError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    /// Set when a mapping key is written twice: its dotted path (`metadata.labels.app`, `clusters[0].name`)
    /// and the line of its first occurrence (`line` and `column` are the second's).
    public var duplicate: Duplicate?
    public struct Duplicate: Equatable, Sendable {
        public var path: String
        public var firstLine: Int
        public init(path: String, firstLine: Int) { self.path = path; self.firstLine = firstLine }
    }

    public init(line: Int, column: Int, message: String) { self.line = line; self.column = column; self.message = message }
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// One pass of libyaml's event parser over a text before Yams composes it, so that hostile input costs
/// time and memory in proportion to its size, and every refusal names a line:
///
/// - text and document sizes are bounded (`Limits`);
/// - nesting deeper than `Limits.depth` is refused (composing and converting YAML recurse once per level);
/// - alias expansion is budgeted as go-yaml (`sigs.k8s.io/yaml`, hence kubectl) budgets it: beyond 1,000
///   values, at most 99% may come from aliases, falling linearly to 10% between 400,000 and 4,000,000
///   values (go.yaml.in/yaml/v3 decode.go `allowedAliasRatio`, "document contains excessive aliasing").
///   Without it a 7 KB "billion laughs" expands to 10^9 values when walked, and Yams hashes every mapping
///   key while composing, so an alias used as a key would expand even before any walk;
/// - a mapping key written twice is reported at its second occurrence with the first one's line (Yams
///   reports only the first, with the whole text in the message);
/// - syntax errors come with libyaml's line and column.
///
/// The pass counts; it builds nothing, so its own cost is linear in the text.
public enum YAMLGuard {
    public struct Limits: Sendable {
        public var textBytes: Int
        public var documentBytes: Int
        public var depth: Int
        public init(textBytes: Int, documentBytes: Int, depth: Int) {
            self.textBytes = textBytes; self.documentBytes = documentBytes; self.depth = depth
        }
        /// Kubernetes manifests: a document at most 3 MiB (the API server's request body limit,
        /// k8s.io/apiserver `MaxRequestBodyBytes`), a stream at most 64 MiB.
        public static let manifests = Limits(textBytes: 64 << 20, documentBytes: 3 << 20, depth: 200)
    }

    public static func check(_ text: String, limits: Limits = .manifests) throws(YAMLInputError) {
        let size = text.utf8.count
        if size > limits.textBytes {
            throw YAMLInputError(line: 1, column: 1, message: "the text is \(mebibytes(size)); the limit is \(mebibytes(limits.textBytes))")
        }
        var bytes = Array(text.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLInputError(line: 1, column: 1, message: "out of memory") }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeMutableBufferPointer { buf throws(YAMLInputError) in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var walk = Walk(limits: limits)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(parser, buf) }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return }
                try walk.step(event)
            }
        }
    }

    private static func syntaxError(_ p: yaml_parser_t, _ text: UnsafeMutableBufferPointer<UInt8>) -> YAMLInputError {
        let problem = p.problem.map { String(cString: $0) } ?? "unreadable text"
        let context = p.context.map { String(cString: $0) + ": " } ?? ""
        if p.error == YAML_READER_ERROR {
            // Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark: count lines up to it.
            let head = text.prefix(min(Int(p.problem_offset), text.count))
            let line = head.reduce(1) { $0 + ($1 == 10 ? 1 : 0) }
            let column = head.count - (head.lastIndex(of: 10).map { $0 + 1 } ?? 0) + 1
            return YAMLInputError(line: line, column: column, message: "not valid YAML text: \(problem)")
        }
        return YAMLInputError(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1,
                              message: "not valid YAML: \(context)\(problem)")
    }

    public static func mebibytes(_ n: Int) -> String {
        n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20)) : "\(n) bytes"
    }

    /// The counting state of one pass.
    private struct Walk {
        let limits: Limits
        /// Open collections, outermost first.
        var frames: [Frame] = []
        /// Expanded size (values) of each anchor defined so far in this document.
        var anchors: [String: Int] = [:]
        var documentStart = 0
        /// Values in the document with every alias expanded, and how many of them came through aliases.
        var values = 0
        var aliased = 0

        struct Frame {
            var anchor: String?
            var isMapping: Bool
            var path: String
            var size = 1
            /// Mappings: the next event is a key (true) or a value.
            var expectingKey = true
            var pendingKey: String?
            var keys: [String: Int] = [:]
            var index = 0
        }

        init(limits: Limits) { self.limits = limits }

        mutating func step(_ e: yaml_event_t) throws(YAMLInputError) {
            let line = Int(e.start_mark.line) + 1, column = Int(e.start_mark.column) + 1
            func fail(_ m: String) -> YAMLInputError { YAMLInputError(line: line, column: column, message: m) }
            switch e.type {
            case YAML_DOCUMENT_START_EVENT:
                documentStart = Int(e.start_mark.index); anchors = [:]; values = 0; aliased = 0
            case YAML_DOCUMENT_END_EVENT:
                let bytes = Int(e.end_mark.index) - documentStart
                if bytes > limits.documentBytes {
                    throw YAMLInputError(line: line, column: 1, message: "the YAML document ending here is \(mebibytes(bytes)); the limit is \(mebibytes(limits.documentBytes))")
                }
            case YAML_SCALAR_EVENT:
                let scalar = String(decoding: UnsafeBufferPointer(start: e.data.scalar.value, count: Int(e.data.scalar.length)), as: UTF8.self)
                try value(size: 1, anchor: name(e.data.scalar.anchor), key: scalar, line: line, column: column)
            case YAML_ALIAS_EVENT:
                let anchor = name(e.data.alias.anchor) ?? ""
                guard let size = anchors[anchor] else { throw fail("the alias *\(anchor) names no anchor defined before it") }
                aliased += size
                try value(size: size, anchor: nil, key: nil, line: line, column: column)
                if aliased > 100 && values > 1000 && Double(aliased) / Double(values) > allowedAliasRatio(values) {
                    throw fail("the YAML aliases up to *\(anchor) expand to \(values) values, \(aliased) of them through aliases; "
                               + "refused as excessive aliasing (as kubectl refuses it)")
                }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = e.type == YAML_MAPPING_START_EVENT
                if frames.count >= limits.depth { throw fail("the YAML nests more than \(limits.depth) levels deep") }
                let anchor = name(isMapping ? e.data.mapping_start.anchor : e.data.sequence_start.anchor)
                let path = childPath()
                try beginValue(key: nil, line: line, column: column)
                values += 1
                frames.append(Frame(anchor: anchor, isMapping: isMapping, path: path))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let f = frames.removeLast()
                if let a = f.anchor { anchors[a] = f.size }
                try endValue(size: f.size)
            default:
                break
            }
        }

        /// The path of the value about to be read, as the mesh file reader writes paths.
        func childPath() -> String {
            guard let f = frames.last else { return "" }
            if f.isMapping { return f.path.isEmpty ? (f.pendingKey ?? "?") : "\(f.path).\(f.pendingKey ?? "?")" }
            return "\(f.path)[\(f.index)]"
        }

        /// A whole value (scalar or alias) of `size` values.
        mutating func value(size: Int, anchor: String?, key: String?, line: Int, column: Int) throws(YAMLInputError) {
            try beginValue(key: key, line: line, column: column)
            if let anchor { anchors[anchor] = size }
            values += size
            try endValue(size: size)
        }

        /// Keeps key bookkeeping: a scalar in key position is checked against the mapping's earlier keys.
        mutating func beginValue(key: String?, line: Int, column: Int) throws(YAMLInputError) {
            guard let f = frames.last, f.isMapping, f.expectingKey else { return }
            let i = frames.count - 1
            frames[i].pendingKey = key
            guard let key else { return }
            if let first = frames[i].keys[key] {
                let path = f.path.isEmpty ? key : "\(f.path).\(key)"
                var e = YAMLInputError(line: line, column: column, message: "'\(path)' is written twice (first at line \(first))")
                e.duplicate = .init(path: path, firstLine: first)
                throw e
            }
            frames[i].keys[key] = line
        }

        /// Adds a finished value's size to its parent (each value is counted in `values` once, where it starts).
        mutating func endValue(size: Int) throws(YAMLInputError) {
            guard !frames.isEmpty else { return }
            let i = frames.count - 1
            frames[i].size += size
            if frames[i].isMapping {
                if !frames[i].expectingKey { frames[i].pendingKey = nil }
                frames[i].expectingKey.toggle()
            } else {
                frames[i].index += 1
            }
        }

        func name(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }

    static func allowedAliasRatio(_ values: Int) -> Double {
        switch values {
        case ...400_000: return 0.99
        case 4_000_000...: return 0.10
        default: return 0.99 - 0.89 * Double(values - 400_000) / Double(4_000_000 - 400_000)
        }
    }
}
