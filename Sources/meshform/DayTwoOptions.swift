import ArgumentParser
import Foundation
import MeshformKit

/// Options of plan and apply for day-2 operations (docs/day2.md).
struct DayTwoOptions: ParsableArguments {
    @Flag(name: [.customLong("finalize"), .customLong("finalize", withSingleDash: true)],
          help: "Canary upgrade: run the last phase, removing the old control-plane revision (lifecycle.upgrade: manual).")
    var finalize = false
    @Flag(name: [.customLong("restart-workloads"), .customLong("restart-workloads", withSingleDash: true)],
          help: "After applying, restart (rollout restart) the Deployments whose pods run another revision's proxy.")
    var restartWorkloads = false
    @Option(name: .customLong("restart-batch"), help: "With -restart-workloads: Deployments restarted at once per cluster.")
    var restartBatch = 5

    func validate() throws {
        guard restartBatch >= 1 else { throw ValidationError("--restart-batch must be at least 1") }
    }

    /// Restarts the workloads on the proxy of another revision, reading the state as the apply left it.
    func restart(meshFile: String, state: String?, readinessTimeout: Int) async throws {
        let session = try await MeshSession(meshFile: meshFile, statePath: state)
        let restarted = try await session.restartWorkloads(batch: restartBatch, timeout: .seconds(readinessTimeout)) {
            print(Terminal.line(for: $0)); fflush(nil)  // all streams: no reference to the global `stdout` (Swift 6)
        }
        if !restarted.isEmpty { print("\nRestarted \(restarted.count) workload\(restarted.count == 1 ? "" : "s").") }
    }
}
