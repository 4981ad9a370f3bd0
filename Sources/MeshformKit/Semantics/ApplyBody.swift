import KubeModel

/// The body sent to the API server for a resource: computed values filled in, secret `stringData` folded into
/// `data`, and, once the object exists (`live`), the fields other controllers own by rule (webhook caBundle...) released
/// without being reset (`ManagedFields.releasing`). Apply, `plan --server-dry-run` and `recover` send exactly this, so it
/// lives here rather than in the executor.
enum ApplyBody {
    static func make(_ r: Resource, computed: ComputedValues, live: JSON?) throws -> JSON {
        var body = r.computed.isEmpty ? r.body : computed.restricted(to: r.computed.map(\.placeholder)).substitute(in: r.body)
        if let missing = r.computed.first(where: { body.jsonString.contains($0.placeholder) }) {
            throw ApplyError.computedUnknown(address: r.address.description, producer: missing.producer.description)
        }
        body = SecretBody.foldingStringData(body)
        if let live { body = ManagedFields.releasing(r.ignoreFields.map(FieldPattern.init), in: body, live: live, manager: ManagedFields.meshform) }
        return body
    }
}
