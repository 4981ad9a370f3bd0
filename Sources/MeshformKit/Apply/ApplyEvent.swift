import Foundation
import KubeModel
import StateStore

/// What apply, destroy and recover report as they go; the CLI turns each into one line (an address as its text).
public enum ApplyEvent: Sendable {
    case started(address: ResourceAddress, action: Action)
    case waiting(address: ResourceAddress, what: String)
    case finished(address: ResourceAddress, action: Action, elapsed: Duration)
    case failed(address: ResourceAddress, action: Action, error: String)
    case undoStarted(address: ResourceAddress, what: String)
    case undone(address: ResourceAddress, what: String)
    case undoFailed(address: ResourceAddress, what: String, error: String)
    case note(String)
    /// Hostname mode: the control-plane gateway's load-balancer address, which the user's DNS name must resolve to.
    case pointHostname(hostname: String, address: String)
}

/// The totals apply prints at the end.
public struct ApplySummary: Sendable, Equatable {
    public var added = 0, changed = 0, destroyed = 0
    public init(added: Int = 0, changed: Int = 0, destroyed: Int = 0) {
        self.added = added; self.changed = changed; self.destroyed = destroyed
    }
    mutating func count(_ a: Action) {
        switch a {
        case .create, .adopt: added += 1
        case .update: changed += 1
        case .delete: destroyed += 1
        case .replace: added += 1; destroyed += 1
        case .noOp: break
        }
    }
}

/// How an apply ended.
public enum ApplyResult: Sendable {
    case succeeded(ApplySummary)
    /// A step failed; everything this run did was undone.
    case rolledBack(failed: String, error: String)
    /// A step failed and `--no-rollback` kept what was done.
    case failedKept(failed: String, error: String, summary: ApplySummary)
    /// A step failed and undoing failed too: `left` says what remains and how to finish.
    case rollbackFailed(failed: String, error: String, left: [String])
}
