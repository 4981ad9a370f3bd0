import Foundation

/// Everything that can go wrong with a state file, in words a person can act on.
///
/// Every case names the file, so a message read in a CI log says which state is at stake; none ever
/// contains secret material (the keyed-hash key, Secret values).
public enum StateError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// `open(create: false)` or `openReadOnly` on a path with no file.
    case notFound(path: String)
    /// The file is a SQLite database but damaged (failed integrity check, or SQLite reported corruption).
    case corrupt(path: String, detail: String)
    /// The file is not a Meshform state file: not SQLite at all, or SQLite with someone else's tables.
    case foreign(path: String, detail: String)
    /// The file was written by a newer Meshform (it has migrations this build does not know).
    case newerSchema(path: String, unknownMigrations: [String])
    /// Another run holds the write lock and did not release it within the timeout.
    case locked(path: String, holder: StateLock)
    /// `renewLock`/`releaseLock` with a lock this process no longer holds (it expired and was taken over, or was force-unlocked).
    case lockLost(path: String, id: String)
    /// `forceUnlock(id:)` with an ID that is not the current lock's.
    case noSuchLock(path: String, id: String, current: StateLock?)
    /// A run ID that is not in this state file.
    case noSuchRun(path: String, id: String)
    /// A write on a store opened with `openReadOnly`.
    case readOnly(path: String)
    /// `state migrate` to a state that already holds another mesh's history (another lineage).
    case lineageMismatch(path: String, theirs: String, ours: String)
    /// A `--state`/`MESHFORM_STATE` value that cannot be used as given (e.g. a URL holding a password).
    case badLocation(location: String, detail: String)
    /// Any other SQLite or file-system failure (disk full, permissions, ...).
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .notFound(let p):
            return "state file \(p) does not exist; check --state, or run an apply to create it"
        case .corrupt(let p, let d):
            return "state file \(p) is corrupt (\(d)); restore it from a backup, or move it aside and re-adopt the live objects"
        case .foreign(let p, let d):
            return "\(p) is not a Meshform state file (\(d)); check --state"
        case .newerSchema(let p, let m):
            return "state file \(p) was written by a newer Meshform (schema migrations \(m.joined(separator: ", ")) unknown here); upgrade meshform"
        case .locked(let p, let h):
            return "state file \(p) is locked by \(h.summary); wait for it, retry with --lock-timeout, or if that run is dead: meshform state unlock \(h.id)"
        case .lockLost(let p, let id):
            return "lock \(id) on state file \(p) is no longer held by this run (expired and taken over, or force-unlocked); stop writing and re-plan"
        case .noSuchLock(let p, let id, let cur):
            if let cur { return "lock \(id) is not the current lock on \(p); the current lock is \(cur.id), held by \(cur.summary)" }
            return "state file \(p) is not locked (no lock \(id))"
        case .noSuchRun(let p, let id):
            return "run \(id) is not recorded in state file \(p)"
        case .readOnly(let p):
            return "state file \(p) was opened read-only; this operation writes"
        case .lineageMismatch(let p, let theirs, let ours):
            return "\(p) holds another state (lineage \(theirs), not \(ours)); nothing was written. Migrate to an empty location, or remove that state first"
        case .badLocation(let l, let d):
            return "state location \(l): \(d)"
        case .io(let p, let d):
            return "state file \(p): \(d)"
        }
    }

    public var errorDescription: String? { description }
}
