import KubeClient
import KubeModel

/// `plan --server-dry-run`: each create and update is sent to its API server as a server-side apply with
/// `dryRun=All`, and the plan shows what the server says the object would become (defaults, admission, all of it)
/// instead of what Meshform sends. Nothing is stored. A change the server cannot dry-run (its namespace or CRD is
/// created earlier in the same apply, or a value is known only after apply) keeps the plan's own view, with a
/// reason saying why.
struct ServerDryRun {
    var mesh: CompiledMesh
    var clients: [String: KubeClient]
    var computed: ComputedValues
    var mask: @Sendable (JSON) -> JSON

    func refine(_ changes: [PlannedChange], live: LiveObjects) async -> [PlannedChange] {
        struct Refined: Sendable { var index: Int; var change: PlannedChange }
        return await withTaskGroup(of: Refined.self) { group in
            for (i, c) in changes.enumerated() where [.create, .update, .replace].contains(c.action) && c.afterUnknown.isEmpty {
                guard let r = mesh.resource(at: c.address), let client = clients[c.cluster] else { continue }
                group.addTask {
                    var c = c
                    do {
                        let body = try ApplyBody.make(r, computed: computed, live: live.objects[c.address.description])
                        let result = ServerOwnedFields.restorable(
                            try await client.apply(body, fieldManager: ManagedFields.meshform, force: true, dryRun: true))
                        c.after = mask(result)
                        if let before = live.objects[c.address.description] {
                            c.fields = FieldDiff.compare(intended: mask(result), live: mask(before))
                        }
                    } catch {
                        c.reason = [c.reason, "server dry run not possible: \(error)"].compactMap { $0 }.joined(separator: "; ")
                    }
                    return Refined(index: i, change: c)
                }
            }
            var out = changes
            for await r in group { out[r.index] = r.change }
            return out
        }
    }
}
