import Foundation
import KubeModel

/// Renders components with `istioctl manifest generate -f <IstioOperator>`, the guide's own command.
///
/// Before the first render it runs `istioctl version --remote=false` and refuses a binary whose minor
/// release differs from the mesh file's `istio.version` (IstioOperator fields and defaults move between
/// minors). The binary is looked up once; each component is one istioctl run.
public final class IstioctlRenderer: ComponentRenderer, @unchecked Sendable {
    public let path: String
    public let expectedVersion: String?
    private let lock = NSLock()
    private var checkedExecutable: String?
    private var foundVersion: String?

    /// `path` is a file path or a name looked up on PATH; `expectedVersion` nil skips the version check.
    public init(path: String = "istioctl", expectedVersion: String?) {
        self.path = path; self.expectedVersion = expectedVersion
    }

    public var fingerprint: String { "istioctl \(foundVersion ?? expectedVersion ?? "?")" }

    /// The executable, after checking that it exists and has the expected version.
    public func checkedTool() throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let checkedExecutable { return checkedExecutable }
        guard let exe = ExternalTool.locate(path) else {
            throw RenderError(component: "istioctl", message: "istioctl not found at '\(path)'; install Istio's istioctl or set istio.istioctl in the mesh file to its path")
        }
        let r = try ExternalTool.run(exe, ["version", "--remote=false", "--short"])
        guard r.status == 0 else {
            throw RenderError(component: "istioctl", message: "'\(exe) version' failed (exit \(r.status)): \(r.stderr.prefix(500))")
        }
        let found = r.stdout.split(whereSeparator: { $0.isWhitespace || $0 == ":" }).compactMap { IstioVersion(String($0)) }.first
        if let expectedVersion, let want = IstioVersion(expectedVersion) {
            guard let found else {
                throw RenderError(component: "istioctl", message: "could not read a version from '\(exe) version': \(r.stdout.prefix(200))")
            }
            guard found.minor == want.minor else {
                throw RenderError(component: "istioctl", message: "\(exe) is Istio \(found), but the mesh file says istio.version \(expectedVersion); use istioctl \(want.minor).x or change istio.version")
            }
        }
        foundVersion = found?.description
        checkedExecutable = exe
        return exe
    }

    public func render(_ component: IstioComponent) throws -> [JSON] {
        let exe = try checkedTool()
        let file = try ExternalTool.temporaryFile(YAMLDocuments.serialize(component.istioOperator), name: "\(component.kind.rawValue).yaml")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try ExternalTool.run(exe, ["manifest", "generate", "-f", file.path])
        guard r.status == 0 else {
            throw RenderError(component: component.id, message: "istioctl manifest generate failed (exit \(r.status)): \(r.stderr.prefix(1000))")
        }
        do { return try ParsedManifestCache.documents(r.stdout) } catch {
            throw RenderError(component: component.id, message: "istioctl printed output that is not YAML: \(error)")
        }
    }
}
