import Foundation

/// Runs an external program (istioctl, helm) and captures its output through files, so a megabyte of
/// manifests cannot fill a pipe and stall the child.
enum ExternalTool {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// The executable for `name`: a path is used as is; a bare name is looked up on PATH.
    static func locate(_ name: String) -> String? {
        let fm = FileManager.default
        if name.contains("/") { return fm.isExecutableFile(atPath: name) ? name : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if fm.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let tmp = try PrivateFile.temporaryDirectory("meshform")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("stdout"), err = tmp.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil, attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: err.path, contents: nil, attributes: [.posixPermissions: 0o600])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try runRetryingBusyText(p)
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Starts `p`. A program written a moment ago can still be open for writing in a child another thread just forked
    /// (Linux then refuses to run it: ETXTBSY, until that child execs); that passes within milliseconds, so retry.
    private static func runRetryingBusyText(_ p: Process) throws {
        for attempt in 1...5 {
            do { return try p.run() } catch {
                let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
                guard attempt < 5, underlying?.domain == NSPOSIXErrorDomain, underlying?.code == Int(ETXTBSY) else { throw error }
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            }
        }
    }

    /// Writes `text` to a fresh temporary file and returns its path; the caller removes it.
    static func temporaryFile(_ text: String, name: String) throws -> URL {
        let url = try PrivateFile.temporaryDirectory("meshform").appendingPathComponent(name)
        try PrivateFile.write(text, to: url.path)
        return url
    }
}
