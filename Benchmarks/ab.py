#!/usr/bin/env python3
"""A/B of two meshform builds on plan or drift, on one fleet in one run (issue 17): how a change moved CPU and memory.

  Benchmarks/ab.py plan  OLD_BINARY [NEW_BINARY] [--remotes 20] [--runs 5]   # no-change plan, all-on.yaml everywhere
  Benchmarks/ab.py drift OLD_BINARY [NEW_BINARY] [--remotes 19] [--runs 5]   # drift, 10,000 objects on 20 clusters
  Benchmarks/ab.py drift OLD [NEW] --all-on --remotes 100                       # drift as the scaling table runs it

Copy the release binary from before the change first (cp .build/release/meshform /tmp/meshform-before), rebuild, then
compare; NEW_BINARY defaults to .build/release/meshform. The mesh is applied once (with NEW), then OLD and NEW take turns
on the same fleet and state, so a loaded machine slows both alike; medians are printed. Apply: Benchmarks/ab_apply.py.
"""
import argparse, os, statistics, sys, types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_bench as eb  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("which", choices=["plan", "drift"])
ap.add_argument("old")
ap.add_argument("new", nargs="?", default=os.path.join(eb.BIN, "meshform"))
ap.add_argument("--remotes", type=int, default=None, help="plan: 20, drift: 19 (20 clusters)")
ap.add_argument("--objects", type=int, default=10000, help="drift: objects in all")
ap.add_argument("--all-on", action="store_true", help="drift: all-on.yaml on every cluster (the scaling table's), no ConfigMaps")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--latency", type=int, default=5)
a = ap.parse_args()
args = types.SimpleNamespace(latency=a.latency)
remotes = a.remotes or (20 if a.which == "plan" else 19)
binaries = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
os.environ["MESHFORM_BIN"] = binaries["new"]
if a.which == "plan":
    s = eb.Setup(args, remotes, f"ab{remotes}", everywhere=eb.ALL_ON, peers=False)
    verb, ok = ["plan", s.mesh, "-detailed-exitcode"], (0,)
elif a.all_on:
    s = eb.Setup(args, remotes, f"abdrift{remotes}", everywhere=eb.ALL_ON, peers=False)
    verb, ok = ["drift", s.mesh, "--quiet"], (0,)
else:
    s = eb.Setup(args, remotes, "abdrift", workload_objects=a.objects, peers=False)
    verb, ok = ["drift", s.mesh, "--quiet"], (0,)
try:
    s.apply()
    runs = {"old": [], "new": []}
    for i in range(a.runs):
        for label in ("old", "new"):
            os.environ["MESHFORM_BIN"] = binaries[label]
            runs[label].append(eb.timed(eb.meshform(*verb) + s.state, s.env, ok, s.fleet))
    print(f"{a.which}: 1 external + {remotes} remotes, {s.total} objects, latency {a.latency} ms, {a.runs} runs each (medians)")
    for label in ("old", "new"):
        r = runs[label]
        wall, cpu, rss = (statistics.median(x.seconds for x in r), statistics.median(x.cpu_s for x in r), max(x.rss_mb for x in r))
        print(f"  {label}: {wall:6.2f} s wall, {cpu:6.2f} s CPU ({cpu / s.total * 1e6:5.0f} us/object), {rss:6.0f} MB peak RSS"
              f"  [{binaries[label]}]")
finally:
    s.stop()
