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
    /// Parsed documents by file and parameter values, and each file's text with the `{{name}}` names it uses.
    private struct Cache { var parsed: [String: RenderedManifests] = [:]; var texts: [String: (String, Set<String>)] = [:] }
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
        let docs: RenderedManifests
        do { docs = try RenderedManifests(text: text) } catch let e as YAMLInputError {
            throw RenderError(component: component.id, message: "\(path):\(e.line):\(e.column): \(e.message)")
        } catch {
            throw RenderError(component: component.id, message: "\(path) is not valid YAML: \(error)")
        }
        cache.withLock { $0.parsed[key] = docs }
        return docs
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
