/// Everything wrong with a mesh file, each problem at its file, line and column with a way to fix it.
///
/// `meshform validate` prints `description` and exits 1; nothing else is touched.
public struct MeshFileError: Error, CustomStringConvertible, Sendable {
    public var diagnostics: [Diagnostic]

    public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
        public var location: SourceLocation
        public var message: String
        /// How to fix it, in one sentence.
        public var fix: String

        public init(location: SourceLocation, message: String, fix: String) {
            self.location = location; self.message = Self.clip(message); self.fix = Self.clip(fix)
        }

        public var description: String { "\(location): error: \(message)\n    fix: \(fix)" }

        /// Messages quote values from the file; a value can be as long as the file, and no message may dump it.
        static func clip(_ s: String) -> String { s.utf8.count <= 600 ? s : String(s.prefix(300)) + " ... (\(s.count) characters)" }
    }

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) } }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Names Kubernetes accepts for namespaces, cluster names in secrets, and label-like identifiers.
enum DNS1123 {
    /// A DNS-1123 label: at most 63 characters of [a-z0-9-], starting and ending alphanumeric.
    static func isLabel(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 63 else { return false }
        let chars = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard alnum(chars.first!), alnum(chars.last!) else { return false }
        return chars.allSatisfy { alnum($0) || $0 == 45 }
    }

    /// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (Secret names).
    static func isSubdomain(_ s: String) -> Bool {
        s.count <= 253 && !s.isEmpty && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isLabel(String($0)) }
    }

    /// Lower-case, dashes for anything else: a suggestion for an invalid name.
    static func suggestion(for s: String) -> String {
        var out = String(s.lowercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "-" })
        while out.hasPrefix("-") { out.removeFirst() }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "my-name" : String(out.prefix(63))
    }
}

/// The closest known word, for "did you mean" hints on misspelled fields.
func closest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
    // Bounded work per hint: a hostile file can have thousands of candidates and thousands of misses.
    guard word.count <= 64 else { return nil }
    let best = candidates.prefix(200).filter { $0.count <= 64 }.map { ($0, distance(word, $0)) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}
