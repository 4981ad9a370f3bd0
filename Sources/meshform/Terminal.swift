import ArgumentParser
import Foundation
import MeshformKit
import StateStore

/// Where output goes and how it looks: colour only on a terminal, never with NO_COLOR or --no-color.
struct Terminal {
    static func useColor(noColor: Bool) -> Bool {
        !noColor && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
    }

    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }

    /// One line per apply event: cluster, address, action and elapsed time, as a person follows it.
    static func line(for event: ApplyEvent) -> String {
        switch event {
        case .started(let a, let action): return "\(a): \(verb(action, ing: true))..."
        case .waiting(let a, let what): return "\(a): waiting for \(what)..."
        case .finished(let a, let action, let elapsed): return "\(a): \(verb(action, ing: false)) after \(seconds(elapsed))"
        case .failed(let a, let action, let e): return "\(a): \(verb(action, ing: false, failed: true)): \(e)"
        case .undoStarted(let a, let what): return "\(a): rolling back: \(what)..."
        case .undone(let a, let what): return "\(a): rolled back (\(what))"
        case .undoFailed(let a, let what, let e): return "\(a): ROLLBACK FAILED (\(what)): \(e)"
        case .note(let s): return s
        case .pointHostname(let h, let a):
            return "point \(h) at \(a): the control-plane gateway's load-balancer address (a DNS A record for an IP, a CNAME for a name)"
        }
    }

    static func verb(_ a: Action, ing: Bool, failed: Bool = false) -> String {
        failed ? a.verbs.failed : (ing ? a.verbs.doing : a.verbs.done)
    }

    /// Flushes standard output (`fflush(NULL)`: every output stream; C's `stdout` global is not concurrency-safe to name).
    static func flush() { fflush(nil) }

    /// Runs `body` with an `emit` that prints each apply event as a line. On a terminal each line shows at once. Into
    /// a pipe or a file (CI logs, `| tee`), lines are flushed every 100 ms instead of one write each: a write per event
    /// (2-3 per object) was 2% of apply's CPU at 50 remotes (#17), and a reader still sees each line within 0.1 s.
    static func withProgress<T: Sendable>(_ body: (@escaping @Sendable (ApplyEvent) -> Void) async throws -> T) async throws -> T {
        guard isatty(STDOUT_FILENO) != 1 else {
            return try await body { print(line(for: $0)); flush() }
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    flush()
                }
            }
            defer { group.cancelAll(); flush() }
            return try await body { print(line(for: $0)) }
        }
    }

    static func seconds(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return String(format: "%.1fs", s)
    }

    /// Reads the answer to "Do you want to perform these actions?"; only `yes` approves.
    static func confirm(_ question: String) -> Bool {
        print("\(question)\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", terminator: "")
        flush()
        return readLine()?.trimmingCharacters(in: .whitespaces) == "yes"
    }
}

/// Options every command that reads a mesh file shares.
struct MeshOptions: ParsableArguments {
    /// Required: a command that changes clusters must never pick a mesh file the user did not name.
    @Argument(help: "The mesh file.") var meshFile: String
    @Option(name: .long, help: stateHelp) var state: String?
    @Flag(name: .customLong("no-color"), help: "No colour in the output.") var noColor = false

    func session(finalize: Bool = false) async throws -> MeshSession {
        try await MeshSession(meshFile: meshFile, statePath: stateLocation(state), finalize: finalize)
    }
}

let stateHelp = ArgumentHelp("""
    The state: a file or postgres://USER@HOST:PORT/DB?sslmode=verify-full[&schema=NAME] (password from PGPASSWORD \
    or ~/.pgpass, never in the URL). Precedence: --state, then $MESHFORM_STATE, then the mesh file's state:, \
    then state/<mesh>.db.
    """, valueName: "PATH|URL")

/// `--state`, else `MESHFORM_STATE`, else nil (then the mesh file's `state:`, else state/<mesh>.db: `MeshSession`).
func stateLocation(_ option: String?) -> String? {
    option ?? ProcessInfo.processInfo.environment["MESHFORM_STATE"].flatMap { $0.isEmpty ? nil : $0 }
}

/// Runs `body`, printing an error as users expect (no stack, no Swift type names) and exiting 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do { try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        Terminal.error(String(describing: error))
        throw ExitCode(1)
    }
}
