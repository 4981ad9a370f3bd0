import Foundation

/// `resource.Quantity` as the API server stores it: parsed on decode and written back in canonical form,
/// so `2048Mi` reads back as `2Gi`, `2000m` as `2`, `0.5` as `500m`. A port of
/// kubernetes/apimachinery pkg/api/resource/quantity.go (`ParseQuantity`, `CanonicalizeBytes`) and
/// amount.go (`AsCanonicalBytes`, `AsCanonicalBase1024Bytes`), including its quirk of keeping the string
/// as sent when ParseQuantity's fast path finds it already canonical (`ParseQuantity` caches `s`).
///
/// The value is kept exactly as decimal digits times a power of ten (inf.Dec's role in Go).
enum Quantity {
    enum Format { case decimalSI, binarySI, decimalExponent }

    /// The message of `ErrFormatWrong`, which the API server returns when a quantity does not parse.
    static let formatError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

    struct ParseError: Error { let message: String }

    /// The canonical text of a quantity, as the server writes it back.
    static func canonical(_ str: String) throws -> String {
        if str.isEmpty { throw ParseError(message: formatError) }
        if str == "0" { return "0" }
        let s = Array(str.utf8)
        let (positive, num, denom, suffix) = try scan(s)
        guard let (base, exponent, format) = interpret(suffix) else { throw ParseError(message: "unable to parse quantity's suffix") }

        // ParseQuantity's int64 fast path keeps the string as sent when it is already canonical.
        let maxInt64Factors = 18
        var precision = 0, scale = 0, mantissa: Int64 = 1
        switch format {
        case .decimalSI, .decimalExponent:
            scale = exponent; precision = maxInt64Factors - (num.count + denom.count)
        case .binarySI:
            if exponent >= 0 && denom.isEmpty {
                mantissa = 1 << Int64(exponent)
                precision = 15 - num.count - Int(Float(exponent) * 3 / 10) - 1
            } else { precision = -1 }
        }
        if precision >= 0 {
            scale -= denom.count
            if scale >= -9 {
                let shifted = num + denom
                guard let value = Int64(shifted) else { throw ParseError(message: "unable to parse numeric part of quantity") }
                if !value.multipliedReportingOverflow(by: mantissa).overflow {
                    switch format {
                    case .binarySI where exponent % 10 == 0 && value & 7 != 0: return str
                    case .decimalSI, .decimalExponent:
                        if scale % 3 == 0, !shifted.hasSuffix("000"), shifted.first != "0" { return str }
                    default: break
                    }
                }
            }
        }

        // The exact value: digits * 10^exp10, then the suffix applied.
        var amount = Decimal(digits: num + denom, exp10: -denom.count)
        if base == 10 { amount.exp10 += exponent } else { for _ in 0..<exponent { amount.double() } }
        amount.roundUp(toExp10: -9)   // nano is the finest precision; non-zero values round away from zero
        var fmt = format
        if fmt == .binarySI {
            let maxAllowed = Decimal(digits: String(Int64.max), exp10: 0)
            if amount > maxAllowed { amount = maxAllowed }
            if amount.isPositive, amount < Decimal(digits: "1", exp10: 0) { fmt = .decimalSI }
        }
        return canonicalize(amount, negative: !positive, format: fmt)
    }

    /// `CanonicalizeBytes`.
    static func canonicalize(_ amount: Decimal, negative: Bool, format: Format) -> String {
        if !amount.isPositive { return "0" }
        let sign = negative ? "-" : ""
        var fmt = format
        if fmt == .binarySI {
            if amount < Decimal(digits: "1024", exp10: 0) { fmt = .decimalSI }
            else if !amount.isInteger { fmt = .decimalSI }
        }
        if fmt == .binarySI, var n = Int64(amount.integerText) {
            var e = 0
            while n % 1024 == 0 { n /= 1024; e += 1 }
            return sign + String(n) + ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e]
        }
        // AsCanonicalBytes: factors of ten into the exponent, then down to a multiple of three.
        var digits = amount.digits, e = amount.exp10
        while digits.count > 1, digits.hasSuffix("0") { digits.removeLast(); e += 1 }
        while e % 3 != 0 { digits += "0"; e -= 1 }
        let si = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
        if fmt == .decimalSI, let suffix = si[e] { return sign + digits + suffix }
        return sign + digits + (e == 0 ? "" : "e\(e)")
    }

    /// `parseQuantityString`: sign, numerator (leading zeros stripped), denominator and suffix.
    static func scan(_ s: [UInt8]) throws -> (Bool, String, String, String) {
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        var pos = 0, positive = true
        if let c = s.first, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { positive = c != UInt8(ascii: "-"); pos = 1 }
        while pos < s.count, s[pos] == UInt8(ascii: "0") { pos += 1 }
        if pos >= s.count { return (positive, "0", "", "") }
        var i = pos
        while i < s.count, isDigit(s[i]) { i += 1 }
        var num = String(decoding: s[pos..<i], as: UTF8.self)
        if num.isEmpty { num = "0" }
        pos = i
        var denom = ""
        if pos < s.count, s[pos] == UInt8(ascii: ".") {
            pos += 1; i = pos
            while i < s.count, isDigit(s[i]) { i += 1 }
            denom = String(decoding: s[pos..<i], as: UTF8.self)
            pos = i
        }
        let suffixStart = pos
        let letters = Set("eEinumkKMGTP".utf8)
        while pos < s.count, letters.contains(s[pos]) { pos += 1 }
        if pos < s.count, s[pos] == UInt8(ascii: "-") || s[pos] == UInt8(ascii: "+") { pos += 1 }
        while pos < s.count, isDigit(s[pos]) { pos += 1 }
        if pos < s.count { throw ParseError(message: formatError) }
        return (positive, num, denom, String(decoding: s[suffixStart...], as: UTF8.self))
    }

    /// `suffixer.interpret`: base, exponent and format of a suffix.
    static func interpret(_ suffix: String) -> (Int, Int, Format)? {
        let decimal = ["": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18]
        let binary = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]
        if let e = decimal[suffix] { return (10, e, .decimalSI) }
        if let e = binary[suffix] { return (2, e, .binarySI) }
        if suffix.count > 1, suffix.first == "e" || suffix.first == "E", let e = Int(suffix.dropFirst()) { return (10, e, .decimalExponent) }
        return nil
    }

    /// A non-negative exact decimal: `digits` (no sign) times 10^exp10.
    struct Decimal: Comparable {
        var digits: String
        var exp10: Int

        init(digits: String, exp10: Int) {
            let trimmed = digits.drop { $0 == "0" }
            self.digits = trimmed.isEmpty ? "0" : String(trimmed)
            self.exp10 = exp10
        }

        var isPositive: Bool { digits != "0" }
        var isInteger: Bool { exp10 >= 0 || !isPositive || digits.suffix(-exp10).allSatisfy { $0 == "0" } }
        /// The integer part, as decimal text.
        var integerText: String {
            if exp10 >= 0 { return digits + String(repeating: "0", count: exp10) }
            return digits.count > -exp10 ? String(digits.dropLast(-exp10)) : "0"
        }

        mutating func double() {
            var carry = 0, out: [Character] = []
            for c in digits.reversed() {
                let d = Int(c.asciiValue! - 48) * 2 + carry
                out.append(Character(UnicodeScalar(UInt8(d % 10 + 48)))); carry = d / 10
            }
            if carry > 0 { out.append(Character(UnicodeScalar(UInt8(carry + 48)))) }
            digits = String(out.reversed())
        }

        /// Rounds away from zero to at most `-e` decimal places.
        mutating func roundUp(toExp10 e: Int) {
            guard exp10 < e else { return }
            let drop = e - exp10
            let kept = digits.count > drop ? String(digits.dropLast(drop)) : "0"
            let lost = digits.suffix(min(drop, digits.count))
            self = Decimal(digits: kept, exp10: e)
            if lost.contains(where: { $0 != "0" }) { self = self.plusOneUnit() }
        }

        private func plusOneUnit() -> Decimal {
            var out = Array(digits), i = out.count - 1
            while i >= 0 {
                if out[i] == "9" { out[i] = "0"; i -= 1 } else { out[i] = Character(UnicodeScalar(out[i].asciiValue! + 1)); break }
            }
            return Decimal(digits: (i < 0 ? "1" : "") + String(out), exp10: exp10)
        }

        /// Both values written with the same exponent, as digit strings of equal length.
        private static func aligned(_ a: Decimal, _ b: Decimal) -> (String, String) {
            let e = min(a.exp10, b.exp10)
            var x = a.digits + String(repeating: "0", count: a.exp10 - e)
            var y = b.digits + String(repeating: "0", count: b.exp10 - e)
            let n = max(x.count, y.count)
            x = String(repeating: "0", count: n - x.count) + x
            y = String(repeating: "0", count: n - y.count) + y
            return (x, y)
        }

        static func < (a: Decimal, b: Decimal) -> Bool { let (x, y) = aligned(a, b); return x < y }
        static func == (a: Decimal, b: Decimal) -> Bool { let (x, y) = aligned(a, b); return x == y }
    }
}
