import ArgumentParser

/// Options of plan and apply for day-2 operations (docs/day2.md).
struct DayTwoOptions: ParsableArguments {
    @Flag(name: [.customLong("finalize"), .customLong("finalize", withSingleDash: true)],
          help: "Canary upgrade: run the last phase, removing the old control-plane revision (lifecycle.upgrade: manual).")
    var finalize = false
}
