import Foundation
import KubeModel

/// Renders components with `istioctl manifest generate -f <IstioOperator>`, the guide's own command.
///
/// Before the first render it runs `istioctl version --remote=false` and refuses a binary whose minor
/// release differs from the mesh file's `istio.version` (IstioOperator fields and defaults move between
/// minors). The binary is looked up and checked once (concurrent renders share that one check); each component
/// is one istioctl run.
public struct IstioctlRenderer: ComponentRenderer {
    public let path: String
    public let expectedVersion: String?
    private let checked = CheckedTool()

    /// `path` is a file path or a name looked up on PATH; `expectedVersion` nil skips the version check.
    public init(path: String = "istioctl", expectedVersion: String?) {
        self.path = path; self.expectedVersion = expectedVersion
    }

    /// The executable, after checking that it exists and has the expected version.
    public func checkedTool() async throws -> String {
        try await checked.value { [path, expectedVersion] in try await Self.check(path: path, expectedVersion: expectedVersion) }
    }

    private static func check(path: String, expectedVersion: String?) async throws -> String {
        guard let exe = ExternalTool.locate(path) else {
            throw RenderError(component: "istioctl", message: "istioctl not found at '\(path)'; install Istio's istioctl or set istio.istioctl in the mesh file to its path")
        }
        let r = try await ExternalTool.run(exe, ["version", "--remote=false", "--short"])
        guard r.status == 0 else {
            throw RenderError(component: "istioctl", message: "'\(exe) version' failed (exit \(r.status)): \(r.stderrText.prefix(500))")
        }
        let found = r.stdoutText.split(whereSeparator: { $0.isWhitespace || $0 == ":" }).compactMap { IstioVersion(String($0)) }.first
        if let expectedVersion, let want = IstioVersion(expectedVersion) {
            guard let found else {
                throw RenderError(component: "istioctl", message: "could not read a version from '\(exe) version': \(r.stdoutText.prefix(200))")
            }
            guard found.minor == want.minor else {
                throw RenderError(component: "istioctl", message: "\(exe) is Istio \(found), but the mesh file says istio.version \(expectedVersion); use istioctl \(want.minor).x or change istio.version")
            }
        }
        return exe
    }

    public func render(_ component: IstioComponent) async throws -> RenderedManifests {
        let exe = try await checkedTool()
        let r = try await ExternalTool.withTemporaryFile(YAMLDocuments.serialize(component.istioOperator), name: "\(component.kind.rawValue).yaml") {
            try await ExternalTool.run(exe, ["manifest", "generate", "-f", $0])
        }
        guard r.status == 0 else {
            throw RenderError(component: component.id, message: "istioctl manifest generate failed (exit \(r.status)): \(r.stderrText.prefix(1000))")
        }
        do { return try RenderedManifests(text: r.stdoutText) } catch {
            throw RenderError(component: component.id, message: "istioctl printed output that is not YAML: \(error)")
        }
    }
}

/// A value computed once, on first use; concurrent callers wait for that one computation. A failure is not kept:
/// the next caller tries again (the user may have installed the tool meanwhile).
actor CheckedTool {
    private var result: Task<String, Error>?

    func value(_ compute: @escaping @Sendable () async throws -> String) async throws -> String {
        let task = result ?? Task { try await compute() }
        result = task
        do { return try await task.value } catch {
            result = nil
            throw error
        }
    }
}
