import Foundation
import Synchronization

/// The API server's `Warning` response headers: deprecated APIs, fields dropped under `fieldValidation=Warn`,
/// admission webhooks' warnings. RFC 7234 `warning-value`s, `299 - "text"` as kube-apiserver sends them
/// (k8s.io/apimachinery/pkg/util/net/http.go `ParseWarningHeaders`); only code 299 is shown, as client-go's
/// default warning handler does.
public enum ServerWarnings {
    /// The texts of the code-299 warnings in one `Warning` header value (comma-separated values, quoted-string text
    /// with `\` escapes, an optional quoted date after it). A malformed value stops the parse; what came before stays.
    public static func parse(_ header: String) -> [String] {
        var out: [String] = []
        var s = Substring(header)
        while true {
            s = s.drop { $0 == " " || $0 == "\t" }
            guard s.count >= 4, let code = Int(s.prefix(3)), s.dropFirst(3).first == " " else { return out }
            s = s.dropFirst(4)
            guard let agentEnd = s.firstIndex(of: " ") else { return out }
            s = s[s.index(after: agentEnd)...]
            guard let text = quoted(&s) else { return out }
            if code == 299 { out.append(text) }
            s = s.drop { $0 == " " }
            if s.first == "\"" { guard quoted(&s) != nil else { return out } }     // warn-date
            s = s.drop { $0 == " " }
            guard s.first == "," else { return out }
            s = s.dropFirst()
        }
    }

    private static func quoted(_ s: inout Substring) -> String? {
        guard s.first == "\"" else { return nil }
        var text = "", i = s.index(after: s.startIndex)
        while i < s.endIndex {
            let c = s[i]
            if c == "\\" {
                i = s.index(after: i)
                guard i < s.endIndex else { return nil }
                text.append(s[i])
            } else if c == "\"" {
                s = s[s.index(after: i)...]
                return text
            } else { text.append(c) }
            i = s.index(after: i)
        }
        return nil
    }

    /// kubectl's behaviour: each distinct warning once per client, on standard error, as `Warning: TEXT`.
    public static func printingOnce() -> @Sendable (_ context: String, _ text: String) -> Void {
        let seen = Mutex<Set<String>>([])
        return { context, text in
            guard seen.withLock({ $0.insert(text).inserted }) else { return }
            FileHandle.standardError.write(Data("Warning: \(text) (cluster context \(context))\n".utf8))
        }
    }
}
