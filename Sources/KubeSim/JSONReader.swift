import Foundation
import KubeModel

/// A direct JSON parser for request bodies: the Codable path (`JSON(data:)`) tries each type in turn and
/// throws on every miss, which costs more than the rest of a small apply. Integers stay integers.
struct JSONReader {
    struct Failure: Error, CustomStringConvertible { var offset: Int; var description: String { "invalid JSON at byte \(offset)" } }

    static func parse(_ data: Data) throws -> JSON {
        try data.withUnsafeBytes { raw -> JSON in
            var r = JSONReader(bytes: raw.bindMemory(to: UInt8.self))
            r.skipSpace()
            let v = try r.value(depth: 0)
            r.skipSpace()
            guard r.i == r.bytes.count else { throw Failure(offset: r.i) }
            return v
        }
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws -> JSON {
        guard i < bytes.count, depth < 200 else { throw Failure(offset: i) }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1; skipSpace()
            var o: [String: JSON] = [:]
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw Failure(offset: i) }
                let k = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw Failure(offset: i) }
                i += 1; skipSpace()
                o[k] = try value(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw Failure(offset: i) }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw Failure(offset: i)
            }
        case UInt8(ascii: "["):
            i += 1; skipSpace()
            var a: [JSON] = []
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipSpace()
                a.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw Failure(offset: i) }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw Failure(offset: i)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    mutating func literal(_ s: StaticString) throws {
        let n = s.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw Failure(offset: i) }
        for k in 0..<n where bytes[i + k] != s.utf8Start[k] { throw Failure(offset: i) }
        i += n
    }

    mutating func number() throws -> JSON {
        let start = i
        var isDouble = false
        while i < bytes.count {
            let b = bytes[i]
            if (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") { i += 1 }
            else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { isDouble = true; i += 1 }
            else { break }
        }
        guard i > start else { throw Failure(offset: i) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if !isDouble, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw Failure(offset: start) }
        return .double(d)
    }

    mutating func string() throws -> String {
        i += 1
        let start = i
        var simple = true
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            if bytes[i] == UInt8(ascii: "\\") { simple = false; i += 2 } else { i += 1 }
        }
        guard i < bytes.count else { throw Failure(offset: i) }
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<i])
        i += 1
        if simple { return String(decoding: slice, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var k = 0
        while k < slice.count {
            let b = slice[k]
            guard b == UInt8(ascii: "\\"), k + 1 < slice.count else { out.append(b); k += 1; continue }
            let e = slice[k + 1]; k += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard k + 4 <= slice.count, var code = UInt32(String(decoding: UnsafeBufferPointer(rebasing: slice[k..<(k + 4)]), as: UTF8.self), radix: 16) else { throw Failure(offset: start + k) }
                k += 4
                if (0xD800..<0xDC00).contains(code), k + 6 <= slice.count, slice[k] == UInt8(ascii: "\\"), slice[k + 1] == UInt8(ascii: "u"),
                   let low = UInt32(String(decoding: UnsafeBufferPointer(rebasing: slice[(k + 2)..<(k + 6)]), as: UTF8.self), radix: 16),
                   (0xDC00..<0xE000).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00); k += 6
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(code) ?? "\u{FFFD}")).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
