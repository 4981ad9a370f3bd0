import KubeModel

/// The body sent to the API server for a resource: computed values filled in, secret `stringData` folded into
/// `data`, and, once the object exists (`live`), the fields other controllers own by rule (webhook caBundle...) released
/// without being reset (`ManagedFields.releasing`). Apply, `plan --server-dry-run` and `recover` send exactly this, so it
/// lives here rather than in the executor.
enum ApplyBody {
    static func make(_ r: Resource, computed: ComputedValues, live: JSON?) throws -> JSON {
        // `computed` lists exactly the placeholders in the body, so one is left in it exactly when its value is unknown.
        if let missing = r.computed.first(where: { computed[$0.placeholder] == nil }) {
            throw ApplyError.computedUnknown(address: r.address.description, producer: missing.producer.description)
        }
        var body = r.computed.isEmpty ? r.body : computed.substitute(in: r.body, placeholders: r.computed.map(\.placeholder))
        body = SecretBody.foldingStringData(body)
        if let live { body = ManagedFields.releasing(r.ignoreFields.map(FieldPattern.init), in: body, live: live, manager: ManagedFields.meshform) }
        return body
    }
}
