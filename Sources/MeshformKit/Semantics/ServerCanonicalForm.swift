import KubeModel

/// What a real kube-apiserver stores in place of what it was sent, for the values where the difference is only one of
/// spelling: the diff (plan and drift) treats such a value as unchanged, so an apply converges (`plan
/// -detailed-exitcode` 0, `drift` clean) on a real server and not only on one that keeps the text as sent.
///
/// Why this and not a diff against the server's dry-run result: a dry run is one PATCH per object per plan, needs
/// write permission (cron drift often runs read-only), cannot run offline (`--refresh=false`) nor for objects whose
/// namespace or CRD the same apply creates, and it would still leave drift (applied vs live) to compare spellings.
/// The server's canonical forms are deterministic functions of the value, so computing them here is exact.
/// (`plan --server-dry-run` remains for seeing defaults and admission.)
///
/// Two rules, both for built-in kinds only (group without a dot, or `*.k8s.io`, as Kubernetes reserves; a custom
/// resource is stored as sent):
/// - **Quantities** (`resource.Quantity` fields: container `resources`, `overhead`, ResourceQuota `hard`,
///   LimitRange limits, `emptyDir.sizeLimit`, HPA metric targets, PV `capacity`) compare by their canonical text
///   (`Quantity`, a port of apimachinery's): `2048Mi` sent is `2Gi` live, and that is no change.
/// - **Empty values**: Go's `omitempty` drops `null`, `""`, `0`, `false`, `{}` and `[]` from a built-in object, so a
///   desired empty value and an absent live field are the same. The exception is a pointer field, which keeps its
///   zero (`runAsUser: 0`, `replicas: 0`, `automountServiceAccountToken: false` mean something different from absent):
///   the common ones are listed in `keptZeroFields`, and absent live there is a change. `null` is never stored, for
///   any kind.
enum ServerCanonicalForm {
    /// Whether the server of `apiVersion` canonicalises typed fields (a built-in group), as opposed to storing a custom
    /// resource as sent.
    static func isBuiltIn(apiVersion: String?) -> Bool {
        guard let apiVersion else { return false }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        return !group.contains(".") || group.hasSuffix(".k8s.io")
    }

    /// `want` (desired) and `have` (live) are the same value once the server has stored `want`.
    static func sameStored(_ want: JSON, _ have: JSON?, path: [PathElement], builtIn: Bool, kind: String?) -> Bool {
        guard let have else { return isDropped(want, path: path, builtIn: builtIn) }
        guard builtIn, case .string(let stored) = have, isQuantity(path, kind: kind) else { return false }
        let sent: String
        switch want {
        case .string(let s): sent = s
        case .int(let n): sent = String(n)
        case .double(let d): sent = "\(d)"    // the JSON text Meshform sends (JSONFastText), which the server parses
        default: return false
        }
        return Quantity.canonical(sent) == stored
    }

    /// A desired value the server does not store at all.
    static func isDropped(_ want: JSON, path: [PathElement], builtIn: Bool) -> Bool {
        if case .null = want { return true }
        // A Go map keeps its entries whatever their value (`data: {key: ""}` stays).
        if path.count >= 2, case .key(let parent) = path[path.count - 2], mapFields.contains(parent) { return false }
        switch want {
        case .null: return true
        case .string(let s): return builtIn && s.isEmpty
        case .object(let o): return builtIn && o.allSatisfy { isDropped($0.value, path: path + [.key($0.key)], builtIn: builtIn) }
        case .array(let a): return builtIn && a.isEmpty
        case .bool(let b): return builtIn && !b && !keptZero(path)
        case .int(let n): return builtIn && n == 0 && !keptZero(path)
        case .double(let d): return builtIn && d == 0 && !keptZero(path)
        }
    }

    /// Map-valued fields (`map[string]string` and the like) of the kinds Meshform writes.
    static let mapFields: Set<String> = ["data", "stringData", "binaryData", "labels", "annotations", "matchLabels",
                                         "nodeSelector"]

    /// Pointer fields of the kinds Meshform writes: the server keeps their zero value.
    static let keptZeroFields: Set<String> = [
        "replicas", "runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "privileged", "allowPrivilegeEscalation",
        "readOnlyRootFilesystem", "automountServiceAccountToken", "enableServiceLinks", "hostUsers", "shareProcessNamespace",
        "optional", "defaultMode", "mode", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "revisionHistoryLimit",
        "progressDeadlineSeconds", "maxUnavailable", "maxSurge", "minAvailable", "allocateLoadBalancerNodePorts",
        "backoffLimit", "completions", "parallelism", "minReplicas", "stabilizationWindowSeconds", "ttlSecondsAfterFinished",
    ]

    private static func keptZero(_ path: [PathElement]) -> Bool {
        guard case .key(let k)? = path.last else { return false }
        return keptZeroFields.contains(k)
    }

    /// Whether `path` is a `resource.Quantity` field (source: the k8s.io/api types holding `ResourceList` or `Quantity`).
    static func isQuantity(_ path: [PathElement], kind: String?) -> Bool {
        let keys = path.map { e -> String? in if case .key(let k) = e { return k } else { return nil } }
        let n = keys.count
        guard n >= 2, keys[n - 1] != nil, kind != "CustomResourceDefinition" else { return false }
        let parent = keys[n - 2]
        // map[ResourceName]Quantity: ResourceRequirements limits/requests, PodSpec overhead, RuntimeClass podFixed,
        // ResourceQuota hard, PersistentVolume capacity.
        if let parent, n >= 3, keys[n - 3] == "resources", ["limits", "requests"].contains(parent) { return true }
        if let parent, ["overhead", "podFixed", "hard", "capacity"].contains(parent) { return true }
        // LimitRange spec.limits[i].{max,min,default,defaultRequest,maxLimitRequestRatio}[resource]
        if kind == "LimitRange", let parent, ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"].contains(parent) { return true }
        let field = keys[n - 1]!
        if field == "sizeLimit" { return true }
        // HPA autoscaling/v2 MetricTarget value/averageValue.
        if kind == "HorizontalPodAutoscaler", parent == "target", ["value", "averageValue"].contains(field) { return true }
        return false
    }
}
