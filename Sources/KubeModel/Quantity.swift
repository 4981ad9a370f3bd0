/// A Kubernetes resource quantity (`100m`, `2Gi`, `1.5`, `1e3`) and the canonical text a real API server stores for
/// it: `2048Mi` is stored as `2Gi`, `2000m` as `2`, `0.5` as `500m`, `1.5Gi` as `1536Mi`.
///
/// A port of the parsing and canonical form of k8s.io/apimachinery `pkg/api/resource/quantity.go`
/// (`ParseQuantity`, `CanonicalizeBytes`), `amount.go` (`AsCanonicalBytes`, `AsCanonicalBase1024Bytes`) and
/// `suffix.go`, with exact decimal arithmetic as its `inf.Dec` path has:
/// - the suffix picks the format: `n u m "" k M G T P E` DecimalSI, `Ki Mi Gi Ti Pi Ei` BinarySI, `e<n>`/`E<n>`
///   DecimalExponent;
/// - values finer than 1n round away from zero to it; a BinarySI value is capped at 2^63-1, and one between 0 and 1
///   becomes DecimalSI;
/// - canonical form: zero is `0`; BinarySI in (-1024, 1024), or not a whole number, is shown as DecimalSI; BinarySI is
///   the largest power of 1024 that divides it exactly; decimal forms drop trailing zeros into an exponent that is a
///   multiple of 3, DecimalSI past `E` falling back to `e<n>`.
///
/// The API server canonicalises only fields whose Go type is `resource.Quantity`; which fields those are is the
/// caller's business (MeshformKit's `ServerCanonicalForm`).
public struct Quantity: Sendable, Hashable, CustomStringConvertible {
    public enum Format: Sendable, Hashable { case decimalSI, binarySI, decimalExponent }

    /// value = (negative ? -1 : 1) * digits * 10^scale; `digits` big-endian decimal, no leading zeros (empty: zero).
    var digits: [UInt8]
    var scale: Int
    var negative: Bool
    public var format: Format
    /// The text as sent when ParseQuantity's int64 fast path finds it canonical already: the server then stores it
    /// exactly as written (`+100m`, `1.200k` and `1E3` are stored as they are).
    var reused: String?

    public struct ParseError: Error, CustomStringConvertible {
        public var text: String
        public var description: String { "\"\(text)\" is not a quantity: quantities must match '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" }
    }

    public init(parsing text: String) throws {
        let s = Array(text.utf8)
        guard !s.isEmpty else { throw ParseError(text: text) }
        var i = 0
        negative = false
        if s[0] == UInt8(ascii: "-") { negative = true; i = 1 } else if s[0] == UInt8(ascii: "+") { i = 1 }
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        var num: [UInt8] = []
        while i < s.count, isDigit(s[i]) { num.append(s[i] - 48); i += 1 }
        var denom: [UInt8] = []
        if i < s.count, s[i] == UInt8(ascii: ".") {
            i += 1
            while i < s.count, isDigit(s[i]) { denom.append(s[i] - 48); i += 1 }
        }
        let suffixStart = i
        let suffixLetters = Set("eEinumkKMGTP".utf8)
        while i < s.count, suffixLetters.contains(s[i]) { i += 1 }
        if i < s.count, s[i] == UInt8(ascii: "-") || s[i] == UInt8(ascii: "+") { i += 1 }
        while i < s.count, isDigit(s[i]) { i += 1 }
        guard i == s.count else { throw ParseError(text: text) }
        let suffix = String(decoding: s[suffixStart...], as: UTF8.self)

        let base: Int, exponent: Int
        if let e = Self.decimalSuffixes[suffix] { base = 10; exponent = e; format = .decimalSI }
        else if let e = Self.binarySuffixes[suffix] { base = 2; exponent = e; format = .binarySI }
        else if suffix.count > 1, suffix.first == "e" || suffix.first == "E", let e = Int(suffix.dropFirst()),
                abs(e) < 1 << 20 {
            base = 10; exponent = e; format = .decimalExponent
        } else { throw ParseError(text: text) }

        reused = Self.reusedText(text, num: Self.trimmed(num), denom: denom, exponent: exponent, binary: base == 2)
        digits = Self.trimmed(num + denom)
        scale = -denom.count
        if base == 10 { scale += exponent } else { for _ in 0..<exponent { digits = Self.multiply(digits, 2) } }
        if digits.isEmpty { negative = false; scale = 0; return }
        // Finer than nano rounds away from zero (ParseQuantity's inf.RoundUp at Nano).
        if scale < -9 {
            let drop = -9 - scale
            let kept = Self.trimmed(Array(digits.dropLast(min(drop, digits.count))))
            let lost = digits.suffix(min(drop, digits.count)).contains { $0 != 0 }
            digits = lost ? Self.add(kept, 1) : kept
            scale = -9
        }
        if format == .binarySI {
            let maxInt64 = Self.trimmed(Array("9223372036854775807".utf8).map { $0 - 48 })
            if Self.compare(wholeOrCeil: self, maxInt64) > 0 { digits = maxInt64; scale = 0 }
            // 0 < |value| < 1: shown as DecimalSI.
            if scale < 0, digits.count <= -scale { format = .decimalSI }
        }
    }

    /// The text a real API server stores for `text`; nil if it is not a quantity.
    public static func canonical(_ text: String) -> String? { (try? Quantity(parsing: text))?.description }

    /// The canonical form (`CanonicalizeBytes`).
    public var description: String {
        if let reused { return reused }
        if digits.isEmpty { return "0" }
        var format = self.format
        if format == .binarySI {
            // |value| < 1024, or a fraction: shown as DecimalSI so that nothing is rounded.
            let whole = scale >= 0 || digits.suffix(-scale).allSatisfy { $0 == 0 }
            if !whole || Self.compare(wholeOrCeil: self, [1, 0, 2, 4]) < 0 { format = .decimalSI }
        }
        let sign = negative ? "-" : ""
        switch format {
        case .binarySI:
            var n = scale >= 0 ? digits + Array(repeating: 0, count: scale) : Self.trimmed(Array(digits.dropLast(-scale)))
            var e = 0
            while true {
                let (q, r) = Self.divide(n, 1024)
                guard r == 0, !q.isEmpty else { break }
                n = q; e += 1
            }
            return sign + Self.text(n) + (Self.binarySuffixes.first { $0.value == e * 10 }?.key ?? "")
        case .decimalSI, .decimalExponent:
            var n = digits, e = scale
            while n.count > 1, n.last == 0 { n.removeLast(); e += 1 }
            // Go's % keeps the dividend's sign: 1 and -2 need one more digit, 2 and -1 two more.
            switch e % 3 {
            case 1, -2: n.append(0); e -= 1
            case 2, -1: n += [0, 0]; e -= 2
            default: break
            }
            if format == .decimalSI, let s = Self.decimalSuffixes.first(where: { $0.value == e })?.key {
                return sign + Self.text(n) + s
            }
            return sign + Self.text(n) + (e == 0 ? "" : "e\(e)")
        }
    }

    /// ParseQuantity keeps the string it was given when its int64 fast path applies and the number is already in
    /// canonical shape (BinarySI: not a multiple of 8; decimal: scale a multiple of 3, no trailing `000`, no leading 0).
    static func reusedText(_ text: String, num: [UInt8], denom: [UInt8], exponent: Int, binary: Bool) -> String? {
        let num = num.isEmpty ? [0] : num
        let precision = binary
            ? (exponent >= 0 && denom.isEmpty ? 15 - num.count - Int(Float(exponent) * 3 / 10) - 1 : -1)
            : 18 - (num.count + denom.count)
        let scale = (binary ? 0 : exponent) - denom.count
        guard precision >= 0, scale >= -9 else { return nil }
        let shifted = num + denom
        guard shifted.count <= 18 else { return nil }
        let value = shifted.reduce(Int64(0)) { $0 * 10 + Int64($1) }
        if binary {
            guard exponent < 63, value.multipliedReportingOverflow(by: Int64(1) << exponent).overflow == false else { return nil }
            return value & 0x07 != 0 ? text : nil
        }
        return scale % 3 == 0 && !shifted.suffix(3).elementsEqual([0, 0, 0]) && shifted.count >= 1 && shifted[0] != 0 ? text : nil
    }

    static let decimalSuffixes = ["n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18]
    static let binarySuffixes = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]

    // MARK: Decimal digit arithmetic (non-negative, big-endian, no leading zeros)

    static func trimmed(_ d: [UInt8]) -> [UInt8] { Array(d.drop { $0 == 0 }) }
    static func text(_ d: [UInt8]) -> String { d.isEmpty ? "0" : String(decoding: d.map { $0 + 48 }, as: UTF8.self) }

    static func multiply(_ d: [UInt8], _ m: Int) -> [UInt8] {
        var out = d, carry = 0
        for k in out.indices.reversed() {
            let v = Int(out[k]) * m + carry
            out[k] = UInt8(v % 10); carry = v / 10
        }
        while carry > 0 { out.insert(UInt8(carry % 10), at: 0); carry /= 10 }
        return trimmed(out)
    }

    static func add(_ d: [UInt8], _ a: Int) -> [UInt8] {
        var out = d, carry = a
        for k in out.indices.reversed() where carry > 0 {
            let v = Int(out[k]) + carry
            out[k] = UInt8(v % 10); carry = v / 10
        }
        while carry > 0 { out.insert(UInt8(carry % 10), at: 0); carry /= 10 }
        return trimmed(out)
    }

    static func divide(_ d: [UInt8], _ m: Int) -> (quotient: [UInt8], remainder: Int) {
        var q: [UInt8] = [], r = 0
        for digit in d {
            r = r * 10 + Int(digit)
            q.append(UInt8(r / m)); r %= m
        }
        return (trimmed(q), r)
    }

    /// Compares |q|, its fraction rounded up, with a whole number.
    static func compare(wholeOrCeil q: Quantity, _ n: [UInt8]) -> Int {
        var whole = q.scale >= 0 ? q.digits + Array(repeating: 0, count: q.scale) : trimmed(Array(q.digits.dropLast(-q.scale)))
        if q.scale < 0, q.digits.suffix(-q.scale).contains(where: { $0 != 0 }) { whole = add(whole, 1) }
        if whole.count != n.count { return whole.count < n.count ? -1 : 1 }
        for (a, b) in zip(whole, n) where a != b { return a < b ? -1 : 1 }
        return 0
    }
}
