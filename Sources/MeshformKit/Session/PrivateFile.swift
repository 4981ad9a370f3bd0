import Foundation

/// Every file Meshform writes (saved plans, the manifest cache, metrics, graphs, temporary renders) is
/// created mode 0600, in directories it creates mode 0700: plans and renders can hold cluster addresses
/// and object bodies, and nothing here is meant for other users. State files get the same modes from
/// `StateStore`. Modes are set explicitly, not left to the umask. A file that already exists keeps its mode:
/// a user who widened one on purpose (`chmod 0644` on `--metrics-file` for node_exporter) keeps that choice.
public enum PrivateFile {
    /// Writes `data` to `path` atomically (a 0600 temporary file in the same directory, renamed over it).
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try createDirectory(url.deletingLastPathComponent().path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        let fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(tmp, "cannot create") }
        var existing = stat()
        fchmod(fd, stat(path, &existing) == 0 ? existing.st_mode & 0o777 : 0o600)
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.close()
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else { let e = failure(path, "cannot write"); unlink(tmp); throw e }
    }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    /// Creates `path` and any missing parents with mode 0700 (existing directories are left as they are).
    public static func createDirectory(_ path: String) throws {
        var missing: [String] = []
        var p = path.isEmpty ? "." : path
        while !FileManager.default.fileExists(atPath: p) {
            missing.append(p)
            let parent = (p as NSString).deletingLastPathComponent
            if parent == p || parent.isEmpty { break }
            p = parent
        }
        for dir in missing.reversed() {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw failure(dir, "cannot create directory") }
            chmod(dir, 0o700)
        }
    }

    /// A new private temporary directory (0700) for one run's scratch files.
    public static func temporaryDirectory(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try createDirectory(dir.path)
        return dir
    }

    private static func failure(_ path: String, _ what: String) -> Error {
        CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path,
                                                 NSLocalizedDescriptionKey: "\(what) \(path): \(String(cString: strerror(errno)))"])
    }
}
