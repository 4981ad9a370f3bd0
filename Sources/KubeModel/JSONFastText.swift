import Foundation
import Synchronization

/// A byte-level JSON reader and canonical writer for large volumes (the state file's object bodies,
/// LIST responses of hundreds of objects). Added for StateStore: the `Codable` path (`JSON(data:)`,
/// `encoded()`) costs tens of milliseconds per large object on Linux, which made reading ~1,000 Istio
/// objects take a minute.
///
/// Same results as the Codable path: integers that fit `Int` stay `.int`, other numbers are `.double`;
/// `canonicalText` sorts object keys and does not escape `/`, so equal values give equal bytes.
extension JSON {
    /// Parts of an object as an API server answers it that a reader may leave unbuilt (skipped over, still checked to
    /// be bracketed): an apply's answer and a readiness poll are read for identity, status and produced values, while an
    /// Istio CRD's spec (its schema) and managedFields (every field a manager set) are most of its bytes (#17).
    public struct ObjectParts: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// `metadata.managedFields`.
        public static let managedFields = ObjectParts(rawValue: 1)
        /// The top-level `spec`.
        public static let spec = ObjectParts(rawValue: 2)
    }

    /// Parses JSON text. Throws `JSONTextError` with the byte offset on malformed input.
    /// - `interner`: every object and list equal to one it has seen (in this text or another it was given) is that
    ///   one, shared, not a copy (see `JSONInterner`).
    /// - `leavingOut`: for an object as an API server answers it, the parts left unbuilt.
    public static func parse(_ data: Data, sharing interner: JSONInterner? = nil, leavingOut: ObjectParts = []) throws -> JSON {
        try data.withUnsafeBytes { raw in
            var p = FastReader(bytes: raw.bindMemory(to: UInt8.self), interner: interner)
            p.leavingOut = leavingOut
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == p.bytes.count else { throw JSONTextError(offset: p.i, reason: "trailing characters") }
            return v
        }
    }

    /// Canonical JSON text: sorted keys, no insignificant whitespace, `/` not escaped.
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// `canonicalText` as UTF-8 bytes, for writing straight into a response or file.
    public var canonicalBytes: [UInt8] {
        var out = [UInt8](); out.reserveCapacity(256)
        FastWriter.write(self, into: &out)
        return out
    }
}

public struct JSONTextError: Error, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// Shares equal objects and lists among the texts it parses (`JSON.parse(_:sharing:)`): the same CRD read from a hundred
/// clusters is held once, and comparing two shared values is an identity check (Dictionary and Array `==` start with
/// one). Values are matched by a hash of their text, bottom-up, and confirmed equal before they are shared.
///
/// A large value met a second time also has its text remembered, so from the third time on it is not parsed at all:
/// its text is found, compared byte for byte, and the shared value returned. An API server writes the same object the
/// same way every time (Go's encoding/json: struct fields in order, map keys sorted), so a CRD's schema reads as the
/// same bytes from every cluster; texts that differ just take the parsing path.
/// It keeps every distinct value it has seen, so it lives as long as one read whose results are kept anyway (a plan).
/// `holdsEveryValue: false` keeps only large values met twice, by their text (and 8 bytes for each large value met
/// once): for a reader that drops what it has compared (drift), whose memory must not grow with the fleet.
public final class JSONInterner: Sendable {
    private let table = Mutex<[UInt64: JSON]>([:])
    private let texts = Mutex<[UInt64: KnownText]>([:])
    private let sightings = Mutex<Set<UInt64>>([])
    let holdsEveryValue: Bool
    public init(holdsEveryValue: Bool = true) { self.holdsEveryValue = holdsEveryValue }

    struct KnownText: Sendable { var bytes: [UInt8]; var value: JSON }

    /// How many distinct values it holds.
    public var count: Int { table.withLock { $0.count } }
    /// How many texts it knows (values of 256 bytes or more, met at least twice).
    public var textCount: Int { texts.withLock { $0.count } }

    /// The value equal to `value`, and whether it was already known.
    func shared(_ value: JSON, hash: UInt64) -> (value: JSON, known: Bool) {
        table.withLock { t in
            guard let known = t[hash] else { t[hash] = value; return (value, false) }
            return known == value ? (known, true) : (value, false)
        }
    }

    /// The value whose text is exactly `text`, if it has been remembered.
    func value(ofText text: UnsafeBufferPointer<UInt8>, hash: UInt64) -> JSON? {
        guard let known = texts.withLock({ $0[hash] }), known.bytes.count == text.count else { return nil }
        let equal = known.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, text.baseAddress!, text.count) == 0 }
        return equal ? known.value : nil
    }

    /// Whether a text with this hash was met before (each call is one meeting).
    func metBefore(textHash: UInt64) -> Bool { !sightings.withLock { $0.insert(textHash).inserted } }

    func remember(text: UnsafeBufferPointer<UInt8>, hash: UInt64, value: JSON) {
        texts.withLock { t in if t[hash] == nil { t[hash] = KnownText(bytes: Array(text), value: value) } }
    }
}

private struct FastReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    let interner: JSONInterner?
    /// With an interner: the hash of the value `value` returned last (of its text, combined bottom-up).
    var hash: UInt64 = 0
    /// Whether the value `share` returned last was one the interner already held.
    var lastShareWasKnown = false
    /// The members of the objects and the elements of the lists being read, innermost last: one buffer for every level,
    /// so each object and list is built once at its final size rather than grown by doubling.
    var members: [(String, JSON)] = []
    var elements: [JSON] = []
    /// Keys too long for a small string (over 15 bytes), one copy per text: CRD schemas repeat
    /// `x-kubernetes-preserve-unknown-fields` thousands of times.
    var longKeys: [UInt64: String] = [:]
    /// `JSON.parse(_:leavingOut:)`; `inMetadata`: the top-level member being read is `metadata`.
    var leavingOut: JSON.ObjectParts = []
    var inMetadata = false

    init(bytes: UnsafeBufferPointer<UInt8>, interner: JSONInterner?) { self.bytes = bytes; self.interner = interner }

    func fail(_ reason: String) -> JSONTextError { JSONTextError(offset: i, reason: reason) }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func expect(_ word: String) throws {
        for b in word.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw fail("expected \(word)") }
            i += 1
        }
    }

    /// FNV-1a over `bytes[range]`, folded into `seed`.
    /// A hash of the bytes in `range`, eight at a time (#17: a byte at a time, FNV-style, it was a tenth of drift, whose
    /// CRD texts are hashed whole). Only ever compared within one process, and every match it finds is confirmed.
    func fnv(_ range: Range<Int>, _ seed: UInt64 = 0xcbf29ce484222325) -> UInt64 {
        var h = seed ^ (UInt64(range.count) &* 0x9e3779b97f4a7c15)
        guard let base = bytes.baseAddress, !range.isEmpty else { return h }
        let raw = UnsafeRawPointer(base)
        var k = range.lowerBound
        while k + 8 <= range.upperBound {
            h = (h ^ raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)) &* 0x100000001b3
            h ^= h >> 29
            k += 8
        }
        var tail: UInt64 = 0, shift: UInt64 = 0
        while k < range.upperBound { tail |= UInt64(bytes[k]) << shift; shift += 8; k += 1 }
        h = (h ^ tail) &* 0x9e3779b97f4a7c15
        return h ^ (h >> 32)
    }

    static func mix(_ h: UInt64, _ v: UInt64) -> UInt64 { (h ^ (v &+ 0x9e3779b97f4a7c15 &+ (h << 6) &+ (h >> 2))) &* 0x100000001b3 }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < 512 else { throw fail("nested too deeply") }
        guard i < bytes.count else { throw fail("unexpected end") }
        let start = i
        let v: JSON
        switch bytes[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if interner != nil, Self.textShared.contains(depth) { return try sharedByText(depth: depth) }
            return bytes[i] == UInt8(ascii: "{") ? try object(depth: depth) : try array(depth: depth)
        case UInt8(ascii: "\""): v = .string(try string())
        case UInt8(ascii: "t"): try expect("true"); v = .bool(true)
        case UInt8(ascii: "f"): try expect("false"); v = .bool(false)
        case UInt8(ascii: "n"): try expect("null"); v = .null
        default: v = try number()
        }
        if interner != nil { hash = fnv(start..<i) }
        return v
    }

    mutating func object(depth: Int) throws -> JSON {
        i += 1; skipSpace()
        var h: UInt64 = 0x7b
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; hash = h; return .object([:]) }
        let base = members.count
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let keyStart = i
            let k = try key()
            if interner != nil { h = Self.mix(h, fnv(keyStart..<i)) }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected :") }
            i += 1; skipSpace()
            if !leavingOut.isEmpty, i < bytes.count, bytes[i] == UInt8(ascii: "[") || bytes[i] == UInt8(ascii: "{"),
               depth == 0 && k == "spec" && leavingOut.contains(.spec)
                || depth == 1 && inMetadata && k == "managedFields" && leavingOut.contains(.managedFields),
               let end = endOfValue(from: i) {
                i = end   // skipped, not built
            } else {
                if depth == 0 { inMetadata = k == "metadata" }
                let v = try value(depth: depth + 1)
                if interner != nil { h = Self.mix(h, hash) }
                members.append((k, v))
            }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected , or }")
        }
        var o = [String: JSON](minimumCapacity: members.count - base)
        for (k, v) in members[base...] { o[k] = v }  // a repeated key: the last one wins
        members.removeSubrange(base...)
        return share(.object(o), h, depth: depth)
    }

    mutating func array(depth: Int) throws -> JSON {
        i += 1; skipSpace()
        var h: UInt64 = 0x5b
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; hash = h; return .array([]) }
        let base = elements.count
        while true {
            skipSpace()
            elements.append(try value(depth: depth + 1))
            if interner != nil { h = Self.mix(h, hash) }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected , or ]")
        }
        let a = Array(elements[base...])
        elements.removeSubrange(base...)
        return share(.array(a), h, depth: depth)
    }

    /// Depths at which a value may be found by its text: an item's members (metadata, spec, status) and the two levels
    /// below. Deeper values are found inside these; looking deeper would scan a miss's bytes once more per level.
    static let textShared = 3...5
    /// Values shorter than this are parsed: looking them up costs about as much.
    static let minimumTextLength = 256

    /// An object or list at a depth in `textShared`: by its text if the interner knows it, else parsed (and, if it is the
    /// second time this value is met, its text remembered). The parent's hash of it is then the hash of its text, the
    /// same either way.
    mutating func sharedByText(depth: Int) throws -> JSON {
        let start = i
        guard let interner, let end = endOfValue(from: start), end - start >= Self.minimumTextLength else {
            return bytes[i] == UInt8(ascii: "{") ? try object(depth: depth) : try array(depth: depth)
        }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
        let textHash = fnv(start..<end)
        if let known = interner.value(ofText: text, hash: textHash) {
            i = end; hash = textHash
            return known
        }
        let v = bytes[i] == UInt8(ascii: "{") ? try object(depth: depth) : try array(depth: depth)
        let metTwice = interner.holdsEveryValue ? lastShareWasKnown : interner.metBefore(textHash: textHash)
        if metTwice { interner.remember(text: text, hash: textHash, value: v) }
        hash = textHash
        return v
    }

    /// The index just past the object or list that starts at `start`, found by matching brackets outside strings, without
    /// checking anything else (parsing does that); nil if the text ends first.
    func endOfValue(from start: Int) -> Int? {
        var k = start, open = 0
        while k < bytes.count {
            switch bytes[k] {
            case UInt8(ascii: "\""):
                guard let close = endOfString(from: k + 1) else { return nil }
                k = close
            case UInt8(ascii: "{"), UInt8(ascii: "["): open += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                open -= 1
                if open == 0 { return k + 1 }
            default: break
            }
            k += 1
        }
        return nil
    }

    /// The index of the quote that ends the string whose text starts at `start`: the next quote (found by `memchr`, which
    /// reads long runs fast) that an even number of backslashes precedes.
    func endOfString(from start: Int) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var k = start
        while k < bytes.count {
            guard let found = memchr(base + k, Int32(UInt8(ascii: "\"")), bytes.count - k) else { return nil }
            let quote = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
            var backslashes = 0
            while quote - backslashes - 1 >= start, bytes[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            if backslashes % 2 == 0 { return quote }
            k = quote + 1
        }
        return nil
    }

    /// The interner's equal value, if any. The outer levels (a LIST, its items, each item: depth 0 to 2) are not
    /// shared: each holds its own object's identity, so no two are equal.
    mutating func share(_ v: JSON, _ h: UInt64, depth: Int) -> JSON {
        hash = h
        lastShareWasKnown = false
        guard depth > 2, let interner, interner.holdsEveryValue else { return v }
        let shared = interner.shared(v, hash: h)
        lastShareWasKnown = shared.known
        return shared.value
    }

    /// An object key; a long one without escapes is read once per text.
    mutating func key() throws -> String {
        let start = i + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return try string() }  // escapes
        i = end + 1
        let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
        guard end - start > 15 else { return String(decoding: text, as: UTF8.self) }
        let h = fnv(start..<end)
        if let known = longKeys[h], known.utf8.elementsEqual(text) { return known }
        let k = String(decoding: text, as: UTF8.self)
        longKeys[h] = k
        return k
    }

    mutating func number() throws -> JSON {
        let start = i
        var integral = true
        while i < bytes.count {
            let c = bytes[i]
            if (c >= 48 && c <= 57) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { i += 1 }
            else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { integral = false; i += 1 }
            else { break }
        }
        guard i > start else { throw fail("unexpected character") }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw JSONTextError(offset: start, reason: "bad number \(text)") }
        return .double(d)
    }

    mutating func string() throws -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < bytes.count else { throw fail("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            defer { i += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]; i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                // As Go's encoding/json (`unquote`), which kube-apiserver decodes with: a high surrogate joins the low
                // one escaped right after it; any other surrogate is U+FFFD, and what follows it is read on its own.
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    let escape = i
                    i += 2
                    if let low = try? hex4(), (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = escape
                    }
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: out.append(e)  // " \ /
            }
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]; i += 1
            let d: UInt8
            switch c {
            case 48...57: d = c - 48
            case 97...102: d = c - 87
            case 65...70: d = c - 55
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }
}

private enum FastWriter {
    static let hex = Array("0123456789abcdef".utf8)

    static func write(_ v: JSON, into out: inout [UInt8]) {
        switch v {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .double(let d):
            // Swift's shortest round-trip spelling keeps a fraction or exponent ("1.0", "1e+20"), so a
            // double reads back as a double.
            if !d.isFinite { out.append(contentsOf: "null".utf8) } else { out.append(contentsOf: "\(d)".utf8) }
        case .string(let s): string(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, e) in a.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                write(e, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (k, member) in o.sorted(by: { $0.key < $1.key }).enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                string(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func string(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Runs of bytes that need no escape are copied whole: most strings are one run.
            var run = 0
            for (k, c) in bytes.enumerated() where c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<k]))
                run = k + 1
                switch c {
                case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
                case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
                case 0x0A: out.append(contentsOf: [92, 110])
                case 0x0D: out.append(contentsOf: [92, 114])
                case 0x09: out.append(contentsOf: [92, 116])
                default: out.append(contentsOf: [92, 117, 48, 48, hex[Int(c >> 4)], hex[Int(c & 15)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
