import Foundation
import KubeModel
import Synchronization

/// Reads pre-rendered manifests from a directory: `<directory>/<component kind>.yaml`, e.g.
/// `external-istiod.yaml`, `remote-config-cluster.yaml`, `eastwest-gateway.yaml`.
///
/// Before parsing, `{{name}}` is replaced by the component's parameters: `{{address}}` (the control-plane
/// address, or the computed gateway-address placeholder, which the compiler then tracks as a dependency),
/// `{{cluster}}`, `{{network}}`, `{{meshID}}`, `{{namespace}}` (control-plane namespace), `{{configCluster}}`,
/// `{{gatewayNamespace}}` and `{{gatewayName}}`. Any other `{{...}}` is left as written: real Istio manifests
/// carry Go templates (the sidecar injector's) that must reach the cluster unchanged.
/// A missing file is an error naming the file expected. Parsed results are cached by content, so
/// rendering the same manifest for fifty clusters parses it once per distinct
/// set of parameter values it uses.
public final class ManifestDirectoryRenderer: ComponentRenderer, Sendable {
    public let directory: String
    /// Parsed documents by file and parameter values, each file's text with the `{{name}}` names it uses, and each
    /// file parsed with markers in place of its parameters (`Template`; nil: that file must be parsed per value set).
    private struct Cache {
        var parsed: [String: RenderedManifests] = [:]
        var texts: [String: (String, Set<String>)] = [:]
        var templates: [String: Template?] = [:]
    }
    private let cache = Mutex(Cache())

    public init(directory: String) { self.directory = directory }

    public func file(for kind: IstioComponent.Kind) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(kind.rawValue).yaml").path
    }

    public func render(_ component: IstioComponent) async throws -> RenderedManifests {
        let path = file(for: component.kind)
        let (raw, names) = try read(path, component: component)
        // The cache key is the file and the values of the parameters it uses: a manifest that uses none
        // (e.g. real istioctl output) is parsed once for every cluster.
        let used = names.filter { component.parameters[$0] != nil }.sorted()
        let key = path + "\u{0}" + used.map { "\($0)=\(component.parameters[$0]!)" }.joined(separator: "\u{0}")
        if let docs = cache.withLock({ $0.parsed[key] }) { return docs }
        let text = used.isEmpty ? raw : substitute(raw, component: component)
        if !used.isEmpty, let filled = template(path, raw, used: used)?.filled(with: component.parameters) {
            let docs = RenderedManifests(documents: filled, digest: RenderedManifests.digest(of: text))
            cache.withLock { $0.parsed[key] = docs }
            return docs
        }
        let docs: RenderedManifests
        do { docs = try RenderedManifests(text: text) } catch let e as YAMLInputError {
            throw RenderError(component: component.id, message: "\(path):\(e.line):\(e.column): \(e.message)")
        } catch {
            throw RenderError(component: component.id, message: "\(path) is not valid YAML: \(error)")
        }
        cache.withLock { $0.parsed[key] = docs }
        return docs
    }

    /// `path` parsed once with a marker for each of `used`, or nil when it does not parse that way.
    private func template(_ path: String, _ raw: String, used: [String]) -> Template? {
        let key = path + "\u{0}" + used.joined(separator: "\u{0}")
        if let known = cache.withLock({ $0.templates[key] }) { return known }
        var made: Template?
        if !raw.contains(Template.markerPrefix) {
            let markers = Dictionary(uniqueKeysWithValues: used.enumerated().map { ($1, Template.markerPrefix + "\($0)x") })
            let text = scanTemplates(raw) { name, _ in markers[name] }
            if let documents = try? ParsedManifestCache.documents(text) {
                made = Template(documents: documents.map { ($0, Template.holdsMarker($0)) }, markers: markers)
            }
        }
        cache.withLock { $0.templates[key] = made }
        return made
    }

    /// The file's text and the `{{name}}` names it mentions, read once.
    private func read(_ path: String, component: IstioComponent) throws -> (String, Set<String>) {
        if let t = cache.withLock({ $0.texts[path] }) { return t }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RenderError(component: component.id, message: "no pre-rendered manifest \(path); add it, or switch istio.renderer to istioctl")
        }
        var names: Set<String> = []
        scanTemplates(text) { name, _ in names.insert(name); return nil }
        cache.withLock { $0.texts[path] = (text, names) }
        return (text, names)
    }

    /// Replaces each `{{name}}` whose name is a parameter; everything else (Go templates such as
    /// `{{ .Values.global.hub }}` in Istio's injector ConfigMap) is kept as written.
    private func substitute(_ text: String, component: IstioComponent) -> String {
        scanTemplates(text) { name, _ in component.parameters[name] }
    }

    /// Walks `{{ name }}` occurrences (bytes, not Characters: manifests are megabytes); `replace` returns
    /// the text to put instead, or nil to keep the occurrence. Returns the resulting text.
    @discardableResult
    private func scanTemplates(_ text: String, _ replace: (String, Int) -> String?) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let open: UInt8 = 123, close: UInt8 = 125  // "{", "}"
        while i < bytes.count {
            if bytes[i] == open, i + 1 < bytes.count, bytes[i + 1] == open {
                var j = i + 2
                while j + 1 < bytes.count, !(bytes[j] == close && bytes[j + 1] == close), j - i < 80 { j += 1 }
                if j + 1 < bytes.count, bytes[j] == close, bytes[j + 1] == close {
                    let name = String(decoding: bytes[(i + 2)..<j], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                    if let value = replace(name, i) {
                        out.append(contentsOf: value.utf8)
                        i = j + 2
                        continue
                    }
                }
                out.append(contentsOf: bytes[i..<(i + 2)])
                i += 2
                continue
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A manifest parsed once with a marker word in place of each `{{name}}`, filled in per component: a mesh of N remotes
/// parsed the remote manifest N times, 5-7% of apply's CPU at 50-300 remotes (#17).
///
/// Filling in gives exactly what parsing the substituted text gives, or nothing (then the text is parsed). A value made
/// only of letters, digits and `._/-` neither ends nor starts any YAML structure inside a plain or quoted scalar, and a
/// string (or key) that starts with a letter none of YAML 1.1's null, bool and number words start with is a string
/// however it was written: the rule `JSON(yaml:)` resolves plain scalars by. Anything else (an empty result, a value
/// starting a scalar with a digit, two keys becoming equal) is left to the parser.
private struct Template {
    static let markerPrefix = "meshformparameter"
    /// The parsed documents, each with whether it holds a marker: one that does not (a CRD, most of a manifest) is
    /// shared as it is rather than walked for each cluster.
    var documents: [(JSON, marked: Bool)]
    /// Parameter name -> the marker written in its place.
    var markers: [String: String]

    func filled(with parameters: [String: String]) -> [JSON]? {
        var pairs: [(marker: String, value: String)] = []
        for (name, marker) in markers {
            guard let value = parameters[name], value.utf8.allSatisfy(Self.isPlain) else { return nil }
            pairs.append((marker, value))
        }
        do {
            return try documents.map { d, marked in marked ? try fill(d, pairs) ?? d : d }
        } catch { return nil }
    }

    static func holdsMarker(_ v: JSON) -> Bool {
        switch v {
        case .string(let s): return hasMarker(s)
        case .array(let a): return a.contains(where: holdsMarker)
        case .object(let o): return o.contains { hasMarker($0.key) || holdsMarker($0.value) }
        default: return false
        }
    }

    /// A value that might not parse as filled in: the text is parsed instead.
    private struct Refused: Error {}

    /// `v` with the markers filled in, or nil when it holds none (its parts are shared, not copied).
    private func fill(_ v: JSON, _ pairs: [(marker: String, value: String)]) throws -> JSON? {
        switch v {
        case .string(let s): return try text(s, pairs).map(JSON.string)
        case .array(var a):
            var changed = false
            for i in a.indices { if let f = try fill(a[i], pairs) { a[i] = f; changed = true } }
            return changed ? .array(a) : nil
        case .object(let o):
            var out: [String: JSON]?
            for (k, e) in o {
                let key = try text(k, pairs), f = try fill(e, pairs)
                if key == nil && f == nil { continue }
                if out == nil { out = o }
                if let key {
                    out![k] = nil
                    guard out![key] == nil else { throw Refused() }   // two keys become one: the parser's to refuse
                    out![key] = f ?? e
                } else {
                    out![k] = f
                }
            }
            return out.map(JSON.object)
        default: return nil
        }
    }

    /// `s` with the markers replaced, nil when it holds none; throws `Refused` when the result might not read back as
    /// this string.
    private func text(_ s: String, _ pairs: [(marker: String, value: String)]) throws -> String? {
        guard Self.hasMarker(s) else { return nil }
        var r = s
        for (marker, value) in pairs where r.contains(marker) { r = r.replacingOccurrences(of: marker, with: value) }
        guard let first = r.utf8.first, (65...90).contains(first) || (97...122).contains(first),
              !"yYnNtTfFoO".utf8.contains(first), !Self.hasMarker(r) else { throw Refused() }
        return r
    }

    private static let markerBytes = Array(markerPrefix.utf8)
    /// Whether `s` holds a marker, by bytes (Foundation's `contains` and the standard library's generic
    /// `firstRange(of:)` were both slow over every string of a manifest).
    private static func hasMarker(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { text in
            let m = markerBytes, n = m.count
            guard text.count >= n else { return false }
            var i = 0
            while i <= text.count - n {
                if text[i] == m[0] {
                    var j = 1
                    while j < n && text[i + j] == m[j] { j += 1 }
                    if j == n { return true }
                }
                i += 1
            }
            return false
        }
    }

    private static func isPlain(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122, UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "/"), UInt8(ascii: "-"): return true
        default: return false
        }
    }
}
