import KubeModel
import Synchronization

/// One field that differs between what Meshform intends and what is live.
public struct FieldChange: Codable, Sendable, Equatable {
    /// A readable path: `.spec.replicas`, `.spec.template.spec.containers[name=discovery].image`.
    public var path: String
    /// The live value (nil when the field is absent live).
    public var before: JSON?
    /// The intended value (nil when Meshform no longer sets it and it will be removed).
    public var after: JSON?
    public init(path: String, before: JSON?, after: JSON?) { self.path = path; self.before = before; self.after = after }
}

/// Compares only the fields Meshform sets, so server defaults, status and other managers' fields are never noise.
///
/// `intended` is what Meshform applies (or last applied). Every leaf of it must be equal live; fields that the
/// previous apply owned but `intended` no longer has (`removed`) must be absent live. Lists whose elements carry a
/// `name` (containers, ports, webhooks, env) match element by name, as server-side apply's associative lists do;
/// other lists compare by position and length. A value the server stores in another spelling (a quantity's canonical
/// text, an empty value it drops) is no change: `ServerCanonicalForm`.
public enum FieldDiff {
    /// `memo`: one run's comparisons of the top-level fields of other clusters' copies of the same object (see `Memo`).
    public static func compare(intended: JSON, live: JSON, previouslyApplied: JSON? = nil,
                               ignoring ignore: [FieldPattern] = [], memo: Memo? = nil) -> [FieldChange] {
        var out: [FieldChange] = []
        let server = Server(builtIn: ServerCanonicalForm.isBuiltIn(apiVersion: intended.apiVersion ?? live.apiVersion),
                            kind: intended.kind ?? live.kind)
        // The memo knows this object by what decides its comparison: how its server stores values, its identity, the
        // ignore rules.
        let memoized = memo.map { memo in
            let object = [server.builtIn ? "built-in" : "custom", server.kind ?? "", intended.apiVersion ?? "", intended.namespace ?? "",
                          intended.name ?? ""] + ignore.map(\.description)
            return TopLevelMemo(memo: memo, object: object.joined(separator: "\u{0}") + "\u{0}")
        }
        walk(intended, live, path: [], ignore: ignore, server: server, memo: memoized, into: &out)
        if let previouslyApplied {
            removals(previous: previouslyApplied, intended: intended, live: live, path: [], ignore: ignore, into: &out)
        }
        return out
    }

    /// The comparisons of one plan or drift run, by object and top-level field (#17). A fleet applies the same object in
    /// every cluster, and both sides are usually one value in memory across clusters (intended: one parsed manifest;
    /// live: `JSONInterner`), so `==` on them is an identity check and a CRD's schema is walked once per run rather than
    /// once per cluster. A field whose values differ from the remembered pair is compared as usual and remembered
    /// instead. Results are those of `walk` exactly: the remembered pair is equal to this one.
    ///
    /// Values are kept only from an object's second copy on: an object found in one cluster only (a workload's
    /// ConfigMap) leaves just its key, so drift, which drops each cluster's live objects once compared, does not keep
    /// them all here.
    public final class Memo: Sendable {
        private struct Entry: Sendable { var want: JSON; var have: JSON?; var changes: [FieldChange] }
        private enum Slot: Sendable { case seenOnce, known(Entry) }
        private let slots = Mutex<[String: Slot]>([:])
        public init() {}

        func changes(_ key: String, want: JSON, have: JSON?) -> [FieldChange]? {
            guard case .known(let e)? = slots.withLock({ $0[key] }), e.want == want, e.have == have else { return nil }
            return e.changes
        }

        func remember(_ key: String, want: JSON, have: JSON?, changes: [FieldChange]) {
            slots.withLock { $0[key] = $0[key] == nil ? .seenOnce : .known(Entry(want: want, have: have, changes: changes)) }
        }
    }

    /// How the object's server stores values (see `ServerCanonicalForm`).
    struct Server { var builtIn: Bool; var kind: String? }

    /// A run's `Memo` and the object compared, for `walk`'s top level.
    struct TopLevelMemo { var memo: Memo; var object: String }

    /// `memo`: given at the top level only, where each field's comparison is looked up first and remembered after.
    private static func walk(_ want: JSON, _ have: JSON?, path: [PathElement], ignore: [FieldPattern], server: Server,
                             memo: TopLevelMemo? = nil, into out: inout [FieldChange]) {
        // Equal subtrees (most of a CRD's schema, most of any object) need no path bookkeeping at all.
        if let have, want == have { return }
        if ignore.contains(where: { $0.matches(path) }) { return }
        if !path.isEmpty, ServerCanonicalForm.sameStored(want, have, path: path, builtIn: server.builtIn, kind: server.kind) { return }
        switch want {
        case .object(let w):
            // Identity and bookkeeping fields are not the user's config.
            guard case .object(let h)? = have else {
                if !(path.isEmpty) { out.append(FieldChange(path: render(path), before: have, after: want)) }
                return
            }
            for key in w.keys.sorted() where !(path.isEmpty && skippedTopLevel.contains(key))
                && !(path == [.key("metadata")] && skippedMetadata.contains(key)) {
                guard let memo else { walk(w[key]!, h[key], path: path + [.key(key)], ignore: ignore, server: server, into: &out); continue }
                let field = memo.object + key
                if let known = memo.memo.changes(field, want: w[key]!, have: h[key]) { out += known; continue }
                let start = out.count
                walk(w[key]!, h[key], path: path + [.key(key)], ignore: ignore, server: server, into: &out)
                memo.memo.remember(field, want: w[key]!, have: h[key], changes: Array(out[start...]))
            }
        case .array(let w):
            guard case .array(let h)? = have else {
                out.append(FieldChange(path: render(path), before: have, after: want)); return
            }
            if let names = namedElements(w), let liveNames = namedElements(h) {
                for (name, element) in names.sorted(by: { $0.key < $1.key }) {
                    walk(element, liveNames[name], path: path + [.named(name)], ignore: ignore, server: server, into: &out)
                }
                return
            }
            if w.count != h.count { out.append(FieldChange(path: render(path), before: have, after: want)); return }
            for (i, element) in w.enumerated() { walk(element, h[i], path: path + [.index(i)], ignore: ignore, server: server, into: &out) }
        default:
            if !scalarEqual(want, have) { out.append(FieldChange(path: render(path), before: have, after: want)) }
        }
    }

    /// Fields the previous apply set, the new intent drops, and that are still live: server-side apply removes them.
    private static func removals(previous: JSON, intended: JSON?, live: JSON?, path: [PathElement], ignore: [FieldPattern],
                                 into out: inout [FieldChange]) {
        if ignore.contains(where: { $0.matches(path) }) { return }
        guard case .object(let p) = previous else { return }
        for key in p.keys.sorted() where !(path.isEmpty && skippedTopLevel.contains(key)) {
            let sub = path + [.key(key)]
            if let i = intended?[key] {
                if case .object = i { removals(previous: p[key]!, intended: i, live: live?[key], path: sub, ignore: ignore, into: &out) }
                // A named element (a webhook, a container) the intent drops: server-side apply removes it from the
                // associative list (its key is `name`), so it is a removal like a dropped field ("the same rule applies
                // to associative lists": kubernetes.io/docs/reference/using-api/server-side-apply, Field management).
                if case .array(let pa) = p[key]!, case .array(let ia) = i, let prev = namedElements(pa),
                   let kept = ia.isEmpty ? [:] : namedElements(ia) {
                    let liveNamed = live?[key]?.array.flatMap(namedElements) ?? [:]
                    for name in prev.keys.sorted() {
                        let el = sub + [.named(name)]
                        if let k = kept[name] { removals(previous: prev[name]!, intended: k, live: liveNamed[name], path: el, ignore: ignore, into: &out) }
                        else if let l = liveNamed[name], !ignore.contains(where: { $0.matches(el) }) { out.append(FieldChange(path: render(el), before: l, after: nil)) }
                    }
                }
            } else if let l = live?[key], !ignore.contains(where: { $0.matches(sub) }) {
                out.append(FieldChange(path: render(sub), before: l, after: nil))
            }
        }
    }

    static let skippedTopLevel = ServerOwnedFields.topLevel
    static let skippedMetadata = ServerOwnedFields.metadata

    private static func namedElements(_ list: [JSON]) -> [String: JSON]? {
        guard !list.isEmpty else { return nil }
        var out: [String: JSON] = [:]
        for e in list {
            guard let n = e["name"]?.string, out[n] == nil else { return nil }
            out[n] = e
        }
        return out
    }

    private static func scalarEqual(_ a: JSON, _ b: JSON?) -> Bool {
        guard let b else { return false }
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        default: return a == b
        }
    }

    static func render(_ path: [PathElement]) -> String {
        path.map { e -> String in
            switch e {
            case .key(let k): return "." + k
            case .index(let i): return "[\(i)]"
            case .named(let n): return "[name=\(n)]"
            }
        }.joined()
    }
}

/// One step of a field path.
public enum PathElement: Hashable, Sendable {
    case key(String)
    case index(Int)
    case named(String)
}

/// A field to ignore, written as users write it in the mesh file: `webhooks[*].clientConfig.caBundle`,
/// `spec.replicas`, `metadata.annotations.deployment.kubernetes.io/revision` is not supported (dots split keys).
public struct FieldPattern: Hashable, Sendable, CustomStringConvertible {
    enum Step: Hashable, Sendable { case key(String), anyElement }
    let steps: [Step]
    public let description: String

    public init(_ text: String) {
        description = text
        var steps: [Step] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: true) {
            var p = Substring(part)
            if p.hasSuffix("[*]") { p = p.dropLast(3); if !p.isEmpty { steps.append(.key(String(p))) }; steps.append(.anyElement) }
            else { steps.append(.key(String(p))) }
        }
        self.steps = steps
    }

    /// True when `path` is this field or inside it.
    func matches(_ path: [PathElement]) -> Bool {
        guard path.count >= steps.count else { return false }
        for (s, e) in zip(steps, path) {
            switch (s, e) {
            case (.key(let k), .key(let pk)) where k == pk: continue
            case (.anyElement, .index), (.anyElement, .named): continue
            default: return false
            }
        }
        return true
    }
}
