import Foundation

/// A YAML scalar as kubectl and Helm send it to the API server, so that Meshform applies what `kubectl apply -f` of the
/// same manifest would. Three pieces of their code decide it, followed here:
/// 1. go-yaml v2 resolves a plain scalar (gopkg.in/yaml.v2 resolve.go; sigs.k8s.io/yaml ≥ 1.4 carries the same code as
///    goyaml.v2): YAML 1.1 bools including `y`, `n`, `on` and `off`; `~`, `null` and nothing as null; integers in Go's
///    base-0 syntax (`0x1F`, `0o17`, `0b101`, `0777` octal) with `_` ignored; floats; `.inf`, `.nan`; anything else,
///    timestamps and base-60 numbers included, as text.
/// 2. sigs.k8s.io/yaml's YAMLToJSON makes map keys text (`yes:` becomes `"true"`, `0x10:` `"16"`, `1.5:` a float32's
///    shortest `'g'` spelling) and refuses a null key; encoding/json refuses NaN and infinities, and writes an integral
///    float below 1e21 without a fraction.
/// 3. kube-apiserver decodes that JSON with sigs.k8s.io/json (`UnmarshalCaseSensitivePreserveInts`): a number without
///    fraction or exponent that fits int64 is an integer, any other a float64. So `1e3` and `1.0` arrive as integers.
/// `JSONReferenceTests.manifestsReadAsKubectlSendsThem` holds this to that code (tools/json-reference -yaml).
enum KubectlYAML {
    /// A scalar as go-yaml v2 resolves it.
    enum Resolved: Equatable {
        case null, bool(Bool), int(Int), uint(UInt64), float(Double), string(String)
    }

    /// What a refused scalar is: the caller adds where it is.
    struct Refusal: Error { var message: String }

    /// go-yaml v2's `resolve` for an untagged plain scalar.
    static func resolve(_ text: String) -> Resolved {
        guard let first = text.utf8.first else { return .null }
        enum Hint { case sign, digit, word, dot }
        let hint: Hint
        switch first {
        case UInt8(ascii: "+"), UInt8(ascii: "-"): hint = .sign
        case UInt8(ascii: "0")...UInt8(ascii: "9"): hint = .digit
        case UInt8(ascii: "."): hint = .dot
        default:
            guard "yYnNtTfFoO~".utf8.contains(first) else { return .string(text) }
            hint = .word
        }
        if let known = words[text] { return known }
        switch hint {
        case .word: return .string(text)
        case .dot: return goFloat(text).map(Resolved.float) ?? .string(text)
        case .sign, .digit:
            // A timestamp (`2001-12-14`) stays text, as go-yaml gives it to an interface{}; none reads as a number.
            let plain = text.replacingOccurrences(of: "_", with: "")
            if let i = goInt(plain) { return .int(i) }
            if let u = goUInt(plain) { return .uint(u) }
            if let d = goFloat(plain) { return .float(d) }
            if plain.hasPrefix("0b"), let i = goInt(String(plain.dropFirst(2)), radix: 2) { return .int(i) }
            if plain.hasPrefix("0b"), let u = goUInt(String(plain.dropFirst(2)), radix: 2) { return .uint(u) }
            if plain.hasPrefix("-0b"), let i = goInt("-" + plain.dropFirst(3), radix: 2) { return .int(i) }
            return .string(text)
        }
    }

    /// The scalar with an explicit tag: `!!str` keeps the text, `!!binary` is base64-decoded; `!!int`, `!!float`, `!!bool` and `!!null`
    /// resolve it and must get that kind (an integer may be a float); any other tag keeps the text (go-yaml's
    /// `resolvableTag`). `tag` is the full tag (`tag:yaml.org,2002:int`).
    static func resolve(_ text: String, tag: String) throws(Refusal) -> Resolved {
        let short = tag.hasPrefix("tag:yaml.org,2002:") ? String(tag.dropFirst("tag:yaml.org,2002:".count)) : tag
        if short == "binary" {
            // go-yaml decodes it (base64.StdEncoding, which skips line breaks) into the string's bytes.
            guard let bytes = Data(base64Encoded: text.filter { $0 != "\n" && $0 != "\r" }) else {
                throw Refusal(message: "the !!binary value is not valid base64 (kubectl refuses it too)")
            }
            return .string(String(decoding: bytes, as: UTF8.self))
        }
        guard ["int", "float", "bool", "null"].contains(short) else { return .string(text) }
        let resolved = resolve(text)
        switch (short, resolved) {
        case ("int", .int), ("int", .uint), ("bool", .bool), ("null", .null), ("float", .float): return resolved
        case ("float", .int(let i)): return .float(Double(i))
        case ("float", .uint(let u)): return .float(Double(u))
        default: throw Refusal(message: "\"\(text)\" is not a !!\(short) (kubectl refuses it too)")
        }
    }

    /// The value kube-apiserver receives for a resolved scalar.
    static func value(_ r: Resolved) throws(Refusal) -> JSON {
        switch r {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .double(Double(u))   // an integer past int64: the API server reads a float64
        case .string(let s): return .string(s)
        case .float(let d):
            guard d.isFinite else {
                throw Refusal(message: "\(d.isNaN ? ".nan" : d > 0 ? ".inf" : "-.inf") has no JSON form (kubectl refuses it too); quote it for text")
            }
            // encoding/json writes it with 'f' below 1e21: the shortest digits, then zeros (2^63 is
            // "9223372036854776000"), which the API server reads as an int64 when they fit.
            if abs(d) < 1e21, d == d.rounded(), let i = Int(goIntegerText(d)) { return .int(i) }
            return .double(d)
        }
    }

    /// A mapping key as YAMLToJSON writes it.
    static func key(_ r: Resolved) throws(Refusal) -> String {
        switch r {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .float(let d): return float32G(d)
        case .null: throw Refusal(message: "a mapping key is null (kubectl refuses it too); quote it for text")
        case .uint(let u): throw Refusal(message: "the mapping key \(u) is past int64 (kubectl refuses it too); quote it for text")
        }
    }

    // MARK: - go-yaml's words and Go's number syntax

    static let words: [String: Resolved] = {
        var m: [String: Resolved] = [:]
        for w in ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"] { m[w] = .bool(true) }
        for w in ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"] { m[w] = .bool(false) }
        for w in ["", "~", "null", "Null", "NULL"] { m[w] = .null }
        for w in [".nan", ".NaN", ".NAN"] { m[w] = .float(.nan) }
        for w in [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"] { m[w] = .float(.infinity) }
        for w in ["-.inf", "-.Inf", "-.INF"] { m[w] = .float(-.infinity) }
        return m
    }()

    /// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
    static func isYAMLFloat(_ s: String) -> Bool {
        var b = Array(s.utf8)[...]
        func digits() -> Int { let n = b.prefix { $0 >= 48 && $0 <= 57 }.count; b = b.dropFirst(n); return n }
        if b.first == UInt8(ascii: "+") || b.first == UInt8(ascii: "-") { b = b.dropFirst() }
        if b.first == UInt8(ascii: ".") {
            b = b.dropFirst()
            guard digits() > 0 else { return false }
        } else {
            guard digits() > 0 else { return false }
            if b.first == UInt8(ascii: ".") { b = b.dropFirst(); _ = digits() }
        }
        if b.first == UInt8(ascii: "e") || b.first == UInt8(ascii: "E") {
            b = b.dropFirst()
            if b.first == UInt8(ascii: "+") || b.first == UInt8(ascii: "-") { b = b.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return b.isEmpty
    }

    /// Go's `strconv.ParseFloat` for the decimal forms go-yaml hands it (`isYAMLFloat`, or `.5`-style text): nil when
    /// malformed or out of range (Go's ErrRange); an underflow is 0, as in Go.
    static func goFloat(_ s: String) -> Double? {
        guard isYAMLFloat(s), let d = Double(s), d.isFinite else { return nil }
        return d
    }

    /// Go's `strconv.ParseInt(s, base, 64)`; base 0: the prefix decides (`0x`, `0o`, `0b`, a leading `0` for octal).
    static func goInt(_ s: String, radix: Int = 0) -> Int? {
        var body = Substring(s)
        var negative = false
        if let sign = body.first, sign == "+" || sign == "-" { negative = sign == "-"; body = body.dropFirst() }
        guard let magnitude = goUInt(String(body), radix: radix) else { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int(magnitude) : nil
    }

    /// Go's `strconv.ParseUint(s, base, 64)` (no sign).
    static func goUInt(_ s: String, radix: Int = 0) -> UInt64? {
        var digits = Substring(s), base = radix
        if radix == 0 {
            let lower = s.lowercased()
            if lower.hasPrefix("0x") { base = 16; digits = digits.dropFirst(2) }
            else if lower.hasPrefix("0o") { base = 8; digits = digits.dropFirst(2) }
            else if lower.hasPrefix("0b") { base = 2; digits = digits.dropFirst(2) }
            else if s.hasPrefix("0"), s.count > 1 { base = 8; digits = digits.dropFirst() }
            else { base = 10 }
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.hexDigitValue.map { $0 < base } == true }) else { return nil }
        return UInt64(digits, radix: base)
    }

    /// Go's `strconv.FormatFloat(d, 'g', -1, 32)`: the shortest digits of the float32 nearest `d`, with an exponent
    /// (`1e+06`, `1.5e-05`) when it is below -4 or at least 6, else plain (`1000`, `0.0025`); infinities and NaN as
    /// YAMLToJSON renames them.
    static func float32G(_ d: Double) -> String {
        let f = Float(d)
        if f.isNaN { return ".nan" }
        if f.isInfinite { return f > 0 ? ".inf" : "-.inf" }
        let sign = f.sign == .minus ? "-" : ""
        if f == 0 { return sign + "0" }
        let (digits, point) = shortestDigits(f.magnitude.description)
        let e = point - 1
        if e < -4 || e >= 6 {
            let rest = digits.count > 1 ? "." + String(digits.dropFirst()) : ""
            let magnitude = String(abs(e))
            return sign + String(digits[0]) + rest + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + String(digits) }
        if digits.count <= point { return sign + String(digits) + String(repeating: "0", count: point - digits.count) }
        return sign + String(digits[..<point]) + "." + String(digits[point...])
    }

    /// The shortest round-trip digits of a positive number and where its decimal point goes (`digits[..<point]` are
    /// before it), from Swift's `description` of it, which is the shortest round-trip spelling as Go's is.
    static func shortestDigits(_ text: String) -> (digits: [Character], point: Int) {
        let mantissa = text.split(separator: "e").first.map(String.init) ?? text
        let exponent = text.split(separator: "e").dropFirst().first.flatMap { Int($0) } ?? 0
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0]), fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(whole + fraction)
        var point = whole.count + exponent
        while digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.last == "0" { digits.removeLast() }
        return (digits, point)
    }

    /// How encoding/json writes a whole float64 below 1e21: `strconv.FormatFloat(d, 'f', -1, 64)`.
    static func goIntegerText(_ d: Double) -> String {
        if d == 0 { return d.sign == .minus ? "-0" : "0" }
        let (digits, point) = shortestDigits(d.magnitude.description)
        return (d < 0 ? "-" : "") + String(digits) + String(repeating: "0", count: max(0, point - digits.count))
    }
}
