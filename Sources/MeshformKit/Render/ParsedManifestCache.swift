import Crypto
import Foundation
import KubeModel

/// Rendered manifests, parsed, kept on disk by the SHA-256 of their text: parsing a large manifest (the
/// 1 MB all-on output, every CRD schema) as YAML costs far more than reading it back as JSON, and a plan, an
/// apply and every cron drift check render the same text again. Kept in `~/.cache/meshform/manifests` (or
/// `$XDG_CACHE_HOME`, or `$MESHFORM_CACHE_DIR`), files 0600 in 0700 directories (`PrivateFile`). Any failure
/// to read or write it just parses the YAML.
///
/// Secret values never reach the cache: a text with a Secret that carries `data` or `stringData` (any
/// manifest file may hold one) is parsed every time and not cached at all.
enum ParsedManifestCache {
    static var directory: URL? {
        let env = ProcessInfo.processInfo.environment
        if let d = env["MESHFORM_CACHE_DIR"] { return d.isEmpty ? nil : URL(fileURLWithPath: d) }
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("meshform/manifests")
    }

    /// Part of every file's name: raised whenever reading YAML changes what a text gives, so that nothing parsed by
    /// older rules is read back (2: scalars and keys as kubectl sends them, `KubectlYAML`).
    static let rules = 2

    /// The documents of `text`, from the cache when it has them, else parsed (and then cached if secret-free).
    static func documents(_ text: String) throws -> [JSON] { try documents(text, in: directory) }

    static func documents(_ text: String, in directory: URL?) throws -> [JSON] {
        guard text.utf8.count > 64 * 1024, let dir = directory else { return try YAMLDocuments.parse(text) }
        let key = Hex.encode(SHA256.hash(data: Data(text.utf8)))
        let file = dir.appendingPathComponent("v\(rules)-" + key + ".json")
        if let data = FileManager.default.contents(atPath: file.path), let docs = (try? JSON(data: data))?.array {
            return docs
        }
        let docs = try YAMLDocuments.parse(text)
        if !docs.contains(where: holdsSecretData) {
            try? PrivateFile.write(JSON.array(docs).encoded(), to: file.path)
        }
        return docs
    }

    /// A Secret with values, directly or inside a `List`.
    static func holdsSecretData(_ doc: JSON) -> Bool {
        if doc.kind == "List" { return (doc["items"]?.array ?? []).contains(where: holdsSecretData) }
        guard doc.kind == "Secret" else { return false }
        return [doc["data"], doc["stringData"]].contains { v in v.map { $0.object?.isEmpty == false || ($0.object == nil && !$0.isNull) } ?? false }
    }
}
