import Foundation
import Crypto
import KubeModel

/// Secret values never land in the state file (or in anything printed from it) in clear. What is stored
/// instead is a keyed hash, `hmac-sha256:<64 hex>`: equal values give equal hashes within one state file,
/// so drift and plan can tell "changed" from "unchanged", but the value cannot be recovered, and without
/// the key (random per state file, kept in its metadata, never printed) not even guessed offline.
/// A store's mask is `StateStore.secretMask`.
public struct SecretMask: Sendable {
    static let maskPrefix = "hmac-sha256:"
    /// The key. Never printed, never part of any error or description.
    let key: [UInt8]

    init(key: [UInt8]) { self.key = key }

    /// A mask with a fresh random key that lives only as long as the value: for a plan before any state exists
    /// (creates need no comparison with stored hashes).
    public static func ephemeral() -> SecretMask {
        var g = SystemRandomNumberGenerator()
        return SecretMask(key: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &g) })
    }

    /// The keyed hash of a clear value, `hmac-sha256:<hex>`.
    public func secretHash(_ value: String) -> String {
        secretHash(bytes: Array(value.utf8))
    }

    /// The keyed hash of raw bytes (a Secret's `data` value after base64 decoding).
    public func secretHash(bytes: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: key))
        return Self.maskPrefix + Hex.encode(mac)
    }

    /// True for a string this store (or another) produced as a masked value.
    public static func isMasked(_ s: String) -> Bool {
        s.count == maskPrefix.count + 64 && s.hasPrefix(maskPrefix) && s.dropFirst(maskPrefix.count).allSatisfy(\.isHexDigit)
    }

    /// The object with every Secret value replaced by its keyed hash; any other object unchanged.
    ///
    /// - `data` values are base64-decoded first and `stringData` values hashed as UTF-8, so the same
    ///   secret hashes the same whether it was sent as `stringData` or read back from the server as `data`.
    /// - A `kubectl.kubernetes.io/last-applied-configuration` annotation on a Secret (it holds the clear
    ///   data) is hashed too.
    /// - Lists (`kind: ...List` with `items`) are masked item by item.
    /// - Idempotent: already-masked values are kept, so masking twice is masking once.
    public func maskSecrets(_ object: JSON) -> JSON {
        if object.kind?.hasSuffix("List") == true, let items = object["items"]?.array {
            var o = object
            o["items"] = .array(items.map(maskSecrets))
            return o
        }
        return SecretBody.replacingValues(in: object) { field, v in
            guard let s = v.string, !Self.isMasked(s) else { return v }
            if field == "data", let bytes = Data(base64Encoded: s) { return .string(secretHash(bytes: Array(bytes))) }
            return .string(secretHash(s))
        }
    }

    /// A Secret's effective data as the API server stores it (`stringData` overrides `data` key by key),
    /// each value as its keyed hash: the form in which a desired, stored and live Secret compare.
    public func maskedSecretData(_ secret: JSON) -> [String: String] {
        let m = maskSecrets(secret)
        var out = (m["data"]?.object ?? [:]).compactMapValues(\.string)
        for (k, v) in m["stringData"]?.object ?? [:] { if let s = v.string { out[k] = s } }
        return out
    }
}

extension StateStore {
    /// True for a string a `SecretMask` produced.
    public static func isMasked(_ s: String) -> Bool { SecretMask.isMasked(s) }
    /// The keyed hash of a clear value with this state's key (`SecretMask.secretHash`).
    public func secretHash(_ value: String) -> String { secretMask.secretHash(value) }
    /// The object with every Secret value masked with this state's key (`SecretMask.maskSecrets`).
    public func maskSecrets(_ object: JSON) -> JSON { secretMask.maskSecrets(object) }
    /// A Secret's effective data, masked with this state's key (`SecretMask.maskedSecretData`).
    public func maskedSecretData(_ secret: JSON) -> [String: String] { secretMask.maskedSecretData(secret) }
}
