import Crypto
import Foundation
import KubeModel

/// Rendered manifests, parsed, kept on disk by the SHA-256 of their text: parsing a large manifest (the
/// 1 MB all-on output, every CRD schema) as YAML costs far more than reading it back as JSON, and a plan, an
/// apply and every cron drift check render the same text again. The cache holds only what the manifests already
/// say (no secrets: Meshform's own Secrets are glue objects, never rendered), in `~/.cache/meshform/manifests`
/// (or `$XDG_CACHE_HOME`, or `$MESHFORM_CACHE_DIR`). Any failure to read or write it just parses the YAML.
enum ParsedManifestCache {
    static var directory: URL? {
        let env = ProcessInfo.processInfo.environment
        if let d = env["MESHFORM_CACHE_DIR"] { return d.isEmpty ? nil : URL(fileURLWithPath: d) }
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("meshform/manifests")
    }

    /// The documents of `text`, from the cache when it has them, else parsed (and then cached).
    static func documents(_ text: String) throws -> [JSON] {
        guard text.utf8.count > 64 * 1024, let dir = directory else { return try YAMLDocuments.parse(text) }
        let key = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        let file = dir.appendingPathComponent(key + ".json")
        if let data = FileManager.default.contents(atPath: file.path), let docs = (try? JSON(data: data))?.array {
            return docs
        }
        let docs = try YAMLDocuments.parse(text)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? JSON.array(docs).encoded().write(to: file, options: .atomic)
        return docs
    }
}
