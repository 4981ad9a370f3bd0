import Foundation

/// A label selector in Kubernetes' text form, as `kubectl -l` and `?labelSelector=` take it: equality (`app=sleep`,
/// `app==sleep`, `tier!=db`), existence (`app`, `!legacy`), sets (`env in (a,b)`, `env notin (c)`) and integer
/// comparisons (`replicas>1`, `replicas<5`), joined by commas; the empty text selects everything. The one parser for
/// the engine, the mesh file and KubeSim.
///
/// Parsed as k8s.io/apimachinery/pkg/labels/selector.go parses it (`Parse`: its lexer, its recursive descent and
/// `NewRequirement`'s checks, keys validated as qualified names and values as label values), so Meshform accepts,
/// refuses and matches what kubectl and kube-apiserver do. `LabelSelectorTests` holds it to the real kubectl.
public struct LabelSelector: Hashable, Sendable {
    public enum Requirement: Hashable, Sendable {
        case equals(String, String), notEquals(String, String), exists(String), absent(String)
        case isIn(String, Set<String>), notIn(String, Set<String>)
        case greaterThan(String, Int64), lessThan(String, Int64)
    }

    /// Why a text is not a selector, in `labels.Parse`'s words.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public let requirements: [Requirement]

    /// Nil when `labels.Parse` would refuse the text (`parse` says why).
    public init?(_ text: String) {
        guard let s = try? Self.parse(text) else { return nil }
        self = s
    }

    init(requirements: [Requirement]) { self.requirements = requirements }

    public static func parse(_ text: String) throws(ParseError) -> LabelSelector {
        var lexer = Lexer(bytes: Array(text.utf8))
        var p = Parser(items: lexer.scan())
        return LabelSelector(requirements: try p.parse())
    }

    /// `Requirement.Matches`: `!=` and `notin` also match objects without the key; `>` and `<` need an integer value.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy {
            switch $0 {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .exists(let k): return labels[k] != nil
            case .absent(let k): return labels[k] == nil
            case .isIn(let k, let vs): return labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): return !(labels[k].map(vs.contains) ?? false)
            case .greaterThan(let k, let n): return labels[k].flatMap { Int64($0) }.map { $0 > n } ?? false
            case .lessThan(let k, let n): return labels[k].flatMap { Int64($0) }.map { $0 < n } ?? false
            }
        }
    }

    // MARK: - selector.go's lexer and parser

    enum Token: Equatable { case end, closedPar, comma, not, doubleEquals, equals, greater, identifier, `in`, less, notEquals, notIn, openPar, error }

    struct Lexer {
        let bytes: [UInt8]
        var pos = 0

        static let keywords: [String: Token] = [")": .closedPar, ",": .comma, "!": .not, "==": .doubleEquals, "=": .equals, ">": .greater,
                                                 "in": .in, "<": .less, "!=": .notEquals, "notin": .notIn, "(": .openPar]
        static func isWhitespace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 13 || c == 10 }
        static func isSpecial(_ c: UInt8) -> Bool { "=!(),><".utf8.contains(c) }

        mutating func scan() -> [(Token, String)] {
            var items: [(Token, String)] = []
            while true {
                let item = lex()
                items.append(item)
                if item.0 == .end { return items }
            }
        }

        mutating func lex() -> (Token, String) {
            while pos < bytes.count, Self.isWhitespace(bytes[pos]) { pos += 1 }
            guard pos < bytes.count else { return (.end, "") }
            if Self.isSpecial(bytes[pos]) {
                // The longest run of special symbols that is still an operator (`!=`, `==`), as scanSpecialSymbol.
                var buffer: [UInt8] = [], last: (Token, String)?
                while pos < bytes.count, Self.isSpecial(bytes[pos]) {
                    buffer.append(bytes[pos])
                    let s = String(decoding: buffer, as: UTF8.self)
                    if let t = Self.keywords[s] { last = (t, s); pos += 1 } else if last != nil { break } else { pos += 1 }
                }
                return last ?? (.error, "error expected: keyword found '\(String(decoding: buffer, as: UTF8.self))'")
            }
            let start = pos
            while pos < bytes.count, !Self.isSpecial(bytes[pos]), !Self.isWhitespace(bytes[pos]) { pos += 1 }
            let s = String(decoding: bytes[start..<pos], as: UTF8.self)
            return (Self.keywords[s] ?? .identifier, s)
        }
    }

    struct Parser {
        let items: [(Token, String)]
        var position = 0

        /// In a values context `in` and `notin` are identifiers (`env in (in)`).
        func lookahead(values: Bool) -> (Token, String) { Self.context(items[position], values: values) }
        mutating func consume(values: Bool) -> (Token, String) { position += 1; return Self.context(items[position - 1], values: values) }
        static func context(_ item: (Token, String), values: Bool) -> (Token, String) {
            values && (item.0 == .in || item.0 == .notIn) ? (.identifier, item.1) : item
        }

        mutating func parse() throws(ParseError) -> [Requirement] {
            var requirements: [Requirement] = []
            while true {
                let (tok, lit) = lookahead(values: true)
                switch tok {
                case .identifier, .not:
                    // Only a requirement's own errors carry this prefix, as in `parse`; the separators' do not.
                    do throws(ParseError) { requirements.append(try requirement()) } catch {
                        throw ParseError(message: "unable to parse requirement: \(error.message)")
                    }
                    let (t, l) = consume(values: true)
                    switch t {
                    case .end: return requirements
                    case .comma:
                        let (t2, l2) = lookahead(values: true)
                        guard t2 == .identifier || t2 == .not else { throw ParseError(message: "found '\(l2)', expected: identifier after ','") }
                    default: throw ParseError(message: "found '\(l)', expected: ',' or 'end of string'")
                    }
                case .end: return requirements
                default: throw ParseError(message: "found '\(lit)', expected: !, identifier, or 'end of string'")
                }
            }
        }

        mutating func requirement() throws(ParseError) -> Requirement {
            var (tok, key) = consume(values: true)
            let absent = tok == .not
            if absent { (tok, key) = consume(values: true) }
            guard tok == .identifier else { throw ParseError(message: "found '\(key)', expected: identifier") }
            try LabelSelector.validateKey(key)
            let next = lookahead(values: true).0
            if absent { return .absent(key) }
            if next == .end || next == .comma { return .exists(key) }
            let (op, opText) = consume(values: false)
            switch op {
            case .in, .notIn:
                let values = try valueSet()
                guard !values.isEmpty else { throw ParseError(message: "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty") }
                for v in values { try LabelSelector.validateValue(v, key: key) }
                return op == .in ? .isIn(key, values) : .notIn(key, values)
            case .equals, .doubleEquals, .notEquals, .greater, .less:
                let value = try exactValue()
                try LabelSelector.validateValue(value, key: key)
                switch op {
                case .notEquals: return .notEquals(key, value)
                case .greater, .less:
                    guard let n = Int64(value) else {
                        throw ParseError(message: "values[0]: Invalid value: \"\(value)\": for 'Gt', 'Lt' operators, the value must be an integer")
                    }
                    return op == .greater ? .greaterThan(key, n) : .lessThan(key, n)
                default: return .equals(key, value)
                }
            default:
                throw ParseError(message: "found '\(opText)', expected: in, notin, =, ==, !=, gt, lt")
            }
        }

        /// `(a,b)`; `()` and empty members are the empty value, as parseValues and parseIdentifiersList have it.
        mutating func valueSet() throws(ParseError) -> Set<String> {
            let (open, lit) = consume(values: true)
            guard open == .openPar else { throw ParseError(message: "found '\(lit)' expected: '('") }
            let (first, firstLit) = lookahead(values: true)
            switch first {
            case .closedPar:
                _ = consume(values: true)
                return [""]
            case .identifier, .comma:
                var s = Set<String>()
                loop: while true {
                    let (t, l) = consume(values: true)
                    switch t {
                    case .identifier:
                        s.insert(l)
                        let (t2, l2) = lookahead(values: true)
                        if t2 == .comma { continue }
                        if t2 == .closedPar { break loop }
                        throw ParseError(message: "found '\(l2)', expected: ',' or ')'")
                    case .comma:
                        if s.isEmpty { s.insert("") }
                        let t2 = lookahead(values: true).0
                        if t2 == .closedPar { s.insert(""); break loop }
                        if t2 == .comma { _ = consume(values: true); s.insert("") }
                    default:
                        throw ParseError(message: "found '\(l)', expected: ',', or identifier")
                    }
                }
                guard consume(values: true).0 == .closedPar else { throw ParseError(message: "found '\(firstLit)', expected: ')'") }
                return s
            default:
                throw ParseError(message: "found '\(firstLit)', expected: ',', ')' or identifier")
            }
        }

        mutating func exactValue() throws(ParseError) -> String {
            let t = lookahead(values: true).0
            if t == .end || t == .comma { return "" }
            let (tok, lit) = consume(values: true)
            guard tok == .identifier else { throw ParseError(message: "found '\(lit)', expected: identifier") }
            return lit
        }
    }

    // MARK: - validation.IsQualifiedName and IsValidLabelValue (k8s.io/apimachinery/pkg/util/validation)

    static func validateKey(_ key: String) throws(ParseError) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name: Substring
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            guard !parts[0].isEmpty, parts[0].utf8.count <= 253, isDNS1123Subdomain(parts[0]) else {
                throw ParseError(message: "key: Invalid value: \"\(key)\": prefix part must be a lowercase RFC 1123 subdomain")
            }
            name = parts[1]
        default:
            throw ParseError(message: "key: Invalid value: \"\(key)\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'")
        }
        guard !name.isEmpty, name.utf8.count <= 63, isQualifiedNamePart(name) else {
            throw ParseError(message: "key: Invalid value: \"\(key)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)")
        }
    }

    static func validateValue(_ value: String, key: String) throws(ParseError) {
        guard value.isEmpty || value.utf8.count <= 63 && isQualifiedNamePart(Substring(value)) else {
            throw ParseError(message: "values[\(key)]: Invalid value: \"\(value)\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)")
        }
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
    static func isQualifiedNamePart(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) }
        guard let first = b.first, let last = b.last, alnum(first), alnum(last) else { return false }
        return b.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
    static func isDNS1123Subdomain(_ s: Substring) -> Bool {
        s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let b = Array(label.utf8)
            func ok(_ c: UInt8) -> Bool { (48...57).contains(c) || (97...122).contains(c) }
            guard let first = b.first, let last = b.last, ok(first), ok(last) else { return false }
            return b.allSatisfy { ok($0) || $0 == UInt8(ascii: "-") }
        }
    }
}
