/// Lower-case hexadecimal text of bytes (digests, keys): one encoder for every hash Meshform prints or stores.
/// A table lookup, not `String(format: "%02x")` per byte, which cost 5% of a plan (it hashes every object it compares).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = [UInt8](); out.reserveCapacity(64)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of hexadecimal text (either case); nil if it is not an even number of hex digits.
    public static func decode(_ s: String) -> [UInt8]? {
        var out = [UInt8](); out.reserveCapacity(s.utf8.count / 2)
        var it = s.utf8.makeIterator()
        while let a = it.next() {
            guard let b = it.next(), let hi = nibble(a), let lo = nibble(b) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
