import Foundation
import KubeModel
import StateStore

/// Replaces secret values by a keyed hash before anything is compared, shown or stored.
///
/// With a state it is the state's own keyed hash (so values compare across runs). Before any state exists (the
/// first plan), a random key that lives only for this process: creates need no comparison, and nothing is written.
public struct SecretMasking: Sendable {
    public let mask: @Sendable (JSON) -> JSON

    public init(store: StateStore) { self.init(store.secretMask) }

    init(_ secretMask: SecretMask) { mask = { secretMask.maskSecrets($0) } }

    public static func ephemeral() -> SecretMasking { SecretMasking(SecretMask.ephemeral()) }
}
