import Foundation
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a program to completion and collects what it printed: the one way Meshform starts a child process
/// (exec credential plugins, istioctl, helm).
///
/// Built on swift-subprocess, so no thread blocks while the child runs: output is read as it comes (a chatty
/// child never stalls on a full pipe), and a cancelled caller's child is killed. Standard input is empty.
public enum ChildProcess {
    /// How a run ended and what it printed.
    public struct Result: Sendable {
        /// The exit code; for a child killed by a signal, 128 + the signal number (as a shell reports it).
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// The child outlived its `timeout` and was killed.
    public struct TimedOut: Error, Sendable {
        public var executable: String
        public var timeout: Duration
    }

    /// Most a child may print on either stream before the run fails (rendered Istio manifests are a few MB).
    public static let outputLimit = 64 << 20

    /// How long a program that is still open for writing somewhere ("text file busy") is waited for.
    static let etxtbsyBudget = Duration.seconds(5)

    /// Runs `executable` (a path) with `arguments` and `environment` (nil: this process's), `input` on its standard
    /// input (nil: none), in `workingDirectory` (nil: this process's), waiting at most `timeout` (nil: no limit). Throws `TimedOut` when the child was killed for its
    /// timeout, and swift-subprocess's `SubprocessError` when it could not start or printed more than `outputLimit`.
    ///
    /// The timeout is a dispatch timer, not a task: it kills the child on time even while CPU-heavy work fills the
    /// cooperative pool. A cancelled caller's child is killed too (swift-subprocess's teardown).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           input: [UInt8]? = nil, workingDirectory: String? = nil, timeout: Duration? = nil) async throws -> Result {
        var delay = Duration.milliseconds(50), waited = Duration.zero
        while true {
            do {
                if let input { return try await runOnce(executable, arguments, environment, workingDirectory, timeout, input: .array(input)) }
                return try await runOnce(executable, arguments, environment, workingDirectory, timeout, input: .none)
            } catch let e as SubprocessError
                where waited < etxtbsyBudget && e.underlyingError == Errno(rawValue: ETXTBSY) {
                // A program written a moment ago can still be open for writing in a child another thread just forked;
                // Linux refuses to run it (ETXTBSY) until that child execs (golang/go#22315 is the same race). That
                // takes milliseconds, but on a loaded machine the forked child may wait for a CPU far longer: the
                // budget is time, not a count of attempts (5 attempts, 0.5 s, ran out under CI load).
                try await Task.sleep(for: delay)
                waited += delay
                delay = min(delay * 2, .milliseconds(500))
            }
        }
    }

    private static func runOnce<Input: InputProtocol>(_ executable: String, _ arguments: [String], _ environment: [String: String]?,
                                                      _ workingDirectory: String?, _ timeout: Duration?, input: Input) async throws -> Result {
        let env: Subprocess.Environment = environment.map {
            .custom(Dictionary(uniqueKeysWithValues: $0.map { (Subprocess.Environment.Key(stringLiteral: $0.key), $0.value) }))
        } ?? .inherit
        let config = Configuration(executable: .path(FilePath(executable)), arguments: Arguments(arguments), environment: env,
                                   workingDirectory: workingDirectory.map { FilePath($0) })
        let timer = KillTimer()
        defer { timer.reaped() }
        let r = try await Subprocess.run(config, input: input, output: .bytes(limit: outputLimit), error: .bytes(limit: outputLimit)) {
            execution in
            if let timeout { timer.start(pid: execution.processIdentifier.value, after: timeout) }
        }
        if timer.reaped() { throw TimedOut(executable: executable, timeout: timeout ?? .zero) }
        let status: Int32
        switch r.terminationStatus {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return Result(status: status, stdout: r.standardOutput, stderr: r.standardError)
    }

    /// The executable `name` stands for: a path (containing "/") if it is executable, else the first executable
    /// of that name on `PATH` (from `environment`, else this process's).
    public static func locate(_ name: String, environment: [String: String]? = nil) -> String? {
        let fm = FileManager.default
        if name.contains("/") { return fm.isExecutableFile(atPath: name) ? name : nil }
        let path = (environment ?? ProcessInfo.processInfo.environment)["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where fm.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }
}

/// Kills a child when its time is up, unless it was reaped first (its pid may then belong to another process).
private final class KillTimer: Sendable {
    private let state = Mutex((timedOut: false, reaped: false))

    func start(pid: pid_t, after timeout: Duration) {
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { [self] in
            state.withLock { s in
                guard !s.reaped else { return }
                s.timedOut = true
                kill(pid, SIGKILL)
            }
        }
    }

    /// Marks the child reaped; returns whether the timer had killed it.
    @discardableResult
    func reaped() -> Bool { state.withLock { $0.reaped = true; return $0.timedOut } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
