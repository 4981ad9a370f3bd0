import Foundation
import KubeModel

/// One check of `meshform verify`: what was checked, where, and what was found.
public struct VerifyCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case passed
        case failed
        /// Not checked (the reason says why): never counted as passed, never fails the run.
        case notRun = "not-run"
    }

    /// `webhooks`, `remote-secret`, `istiod`, `gateway-tls`, `sidecars`, `traffic`.
    public var check: String
    /// The cluster, address or namespace it concerns (empty when mesh-wide).
    public var target: String
    public var status: Status
    /// What was found: the evidence for a pass, the problem and its fix for a failure, the reason for not running.
    /// Never holds a token or a kubeconfig.
    public var detail: String

    public init(_ check: String, _ target: String, _ status: Status, _ detail: String) {
        self.check = check; self.target = target; self.status = status; self.detail = detail
    }

    /// `check@target`, as the output names it.
    public var name: String { target.isEmpty ? check : "\(check)@\(target)" }
}

/// Every check of one `meshform verify` run, in a stable order.
public struct VerifyReport: Sendable {
    public static let formatVersion = 1
    public var checks: [VerifyCheck]

    /// True when no check failed (checks not run do not count either way).
    public var passed: Bool { !checks.contains { $0.status == .failed } }

    public func count(_ s: VerifyCheck.Status) -> Int { checks.filter { $0.status == s }.count }

    /// One line per check, then a summary line.
    public func text() -> String {
        let width = checks.map(\.name.count).max() ?? 0
        var lines = checks.map { c -> String in
            let mark: String
            switch c.status { case .passed: mark = "passed "; case .failed: mark = "FAILED "; case .notRun: mark = "not run" }
            return "\(mark)  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.detail)"
        }
        lines.append("")
        lines.append("Verify: \(count(.passed)) passed, \(count(.failed)) failed, \(count(.notRun)) not run.")
        return lines.joined(separator: "\n")
    }

    /// `{"format_version": 1, "passed": ..., "checks": [{"check", "target", "name", "status", "detail"}]}`.
    public func json() -> JSON {
        ["format_version": .int(Self.formatVersion), "passed": .bool(passed),
         "checks": .array(checks.map { c in
             ["check": .string(c.check), "target": .string(c.target), "name": .string(c.name),
              "status": .string(c.status.rawValue), "detail": .string(c.detail)]
         })]
    }
}
