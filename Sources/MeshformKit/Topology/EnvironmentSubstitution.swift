/// `${VAR}` in mesh file values, read from the environment, as the guide's shell variables are.
///
/// Substitution happens per scalar after parsing, so an error points at the exact value that names the
/// variable. `$${VAR}` is a literal `${VAR}`. A `$` not followed by `{` is kept as written.
enum EnvironmentSubstitution {
    enum Failure: Error { case unset(String), unterminated }

    static func substitute(_ text: String, environment: [String: String]) throws -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            if c == "$", next < text.endIndex, text[next] == "$" {
                let after = text.index(after: next)
                if after < text.endIndex, text[after] == "{" { out.append("$"); i = after; continue }
            }
            if c == "$", next < text.endIndex, text[next] == "{" {
                guard let close = text[next...].firstIndex(of: "}") else { throw Failure.unterminated }
                let name = String(text[text.index(after: next)..<close])
                guard let value = environment[name] else { throw Failure.unset(name) }
                out += value
                i = text.index(after: close)
                continue
            }
            out.append(c)
            i = next
        }
        return out
    }
}
