import Foundation
import KubeModel
import StateStore

/// Replaces secret values by a keyed hash before anything is compared, shown or stored.
///
/// With a state file it is the state's own keyed hash (so values compare across runs). Before any state exists
/// (the first plan), a throw-away state file in a temporary directory supplies a key that lives only for this
/// process: creates need no comparison, and nothing is written next to the user's state.
public struct SecretMasking: Sendable {
    public let mask: @Sendable (JSON) -> JSON

    public init(store: StateStore) { mask = { store.maskSecrets($0) } }

    public static func ephemeral() throws -> SecretMasking {
        let dir = try PrivateFile.temporaryDirectory("meshform")
        let store = try StateStore.open(path: dir.appendingPathComponent("ephemeral.db").path, create: true)
        try? FileManager.default.removeItem(at: dir)
        return SecretMasking(store: store)
    }
}
