import Crypto
import Foundation
import KubeModel

/// Reads pre-rendered manifests from a directory: `<directory>/<component kind>.yaml`, e.g.
/// `external-istiod.yaml`, `remote-config-cluster.yaml`, `eastwest-gateway.yaml`.
///
/// Before parsing, `{{name}}` is replaced by the component's parameters: `{{address}}` (the control-plane
/// address, or the computed gateway-address placeholder, which the compiler then tracks as a dependency),
/// `{{cluster}}`, `{{network}}`, `{{meshID}}`, `{{namespace}}` (control-plane namespace), `{{configCluster}}`,
/// `{{gatewayNamespace}}` and `{{gatewayName}}`. Any other `{{...}}` is left as written: real Istio manifests
/// carry Go templates (the sidecar injector's) that must reach the cluster unchanged.
/// A missing file is an error naming the file expected. Parsed results are cached by content, so
/// rendering the same manifest for fifty clusters parses it once.
public final class ManifestDirectoryRenderer: ComponentRenderer, @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var parsed: [String: [JSON]] = [:]
    private var texts: [String: String] = [:]

    public init(directory: String) { self.directory = directory }

    public func file(for kind: IstioComponent.Kind) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(kind.rawValue).yaml").path
    }

    public var fingerprint: String {
        var h = SHA256()
        for kind in IstioComponent.Kind.allCases {
            if let d = FileManager.default.contents(atPath: file(for: kind)) { h.update(data: Data(kind.rawValue.utf8)); h.update(data: d) }
        }
        return "manifests " + h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public func render(_ component: IstioComponent) throws -> [JSON] {
        let path = file(for: component.kind)
        let raw: String
        lock.lock()
        if let t = texts[path] { raw = t; lock.unlock() } else {
            lock.unlock()
            guard let t = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw RenderError(component: component.id, message: "no pre-rendered manifest \(path); add it, or switch istio.renderer to istioctl")
            }
            lock.lock(); texts[path] = t; lock.unlock()
            raw = t
        }
        let text = try substitute(raw, component: component)
        let key = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        lock.lock()
        if let docs = parsed[key] { lock.unlock(); return docs }
        lock.unlock()
        let docs: [JSON]
        do { docs = try YAMLDocuments.parse(text) } catch {
            throw RenderError(component: component.id, message: "\(path) is not valid YAML: \(error)")
        }
        lock.lock(); parsed[key] = docs; lock.unlock()
        return docs
    }

    /// Replaces each `{{name}}` whose name is a parameter; everything else (Go templates such as
    /// `{{ .Values.global.hub }}` in Istio's injector ConfigMap) is kept as written.
    private func substitute(_ text: String, component: IstioComponent) throws -> String {
        guard text.contains("{{") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if let value = component.parameters[name] { out += value } else { out += rest[open.lowerBound..<close.upperBound] }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
