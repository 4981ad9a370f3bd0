import Foundation

/// Where a Secret keeps its values, for every layer that folds, hashes or hides them (the planner and executor fold
/// `stringData`, the state masks, `state show` hides, recovery asks whether values were there). It lives in KubeModel
/// because the state store masks Secrets too and imports nothing above KubeModel.
///
/// A v1 Secret holds values in `data` (base64) and `stringData` (clear text, write-only: the API server merges it
/// into `data` and never returns it), https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/
/// ; `kubectl apply` also copies the whole object, values included, into its last-applied annotation.
public enum SecretBody {
    /// The fields that hold values, in the order the server applies them (`stringData` wins key by key).
    public static let valueFields = ["data", "stringData"]
    /// kubectl's client-side apply record: the whole object as applied, a Secret's values in clear.
    public static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

    public static func isSecret(_ o: JSON) -> Bool { o.kind == "Secret" && (o.apiVersion ?? "v1") == "v1" }

    /// Whether a Secret body carries values (in whatever form: clear, base64 or masked).
    public static func holdsValues(_ secret: JSON) -> Bool {
        valueFields.contains { secret[$0]?.object?.isEmpty == false }
    }

    /// The Secret as the API server stores it: `stringData` folded into base64 `data`, so what Meshform sends,
    /// what state records and what is live compare like for like. Any other object unchanged.
    public static func foldingStringData(_ o: JSON) -> JSON {
        guard isSecret(o), let sd = o["stringData"]?.object else { return o }
        var out = o
        var data = o["data"]?.object ?? [:]
        for (k, v) in sd { data[k] = .string(Data((v.string ?? "").utf8).base64EncodedString()) }
        out["stringData"] = nil
        out["data"] = .object(data)
        return out
    }

    /// The Secret with each value (every entry of `data` and `stringData`, and the last-applied annotation)
    /// replaced by `replace(field, value)`, where `field` is `data`, `stringData` or the annotation's name.
    /// Any other object is returned unchanged. Masking and hiding are both this walk.
    public static func replacingValues(in o: JSON, _ replace: (_ field: String, _ value: JSON) -> JSON) -> JSON {
        guard isSecret(o) else { return o }
        var out = o
        for field in valueFields {
            if let values = o[field]?.object { out[field] = .object(values.mapValues { replace(field, $0) }) }
        }
        let la = ["metadata", "annotations", lastAppliedAnnotation]
        if let value = o[path: la] { out[path: la] = replace(lastAppliedAnnotation, value) }
        return out
    }
}
