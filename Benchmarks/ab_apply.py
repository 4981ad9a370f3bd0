#!/usr/bin/env python3
"""A/B of two meshform builds on the same apply benchmark, in one run (issue 17): how a change moved apply's CPU.

  Benchmarks/ab_apply.py OLD_BINARY [NEW_BINARY] [--remotes 300] [--rounds 2] [--all-on]

Copy the release binary from before the change first (cp .build/release/meshform /tmp/meshform-before), rebuild,
then compare: NEW_BINARY defaults to .build/release/meshform. Each round runs OLD then NEW on fresh fleets (KubeSim,
5 ms latency, parallelism 50); kubectl peers are left out, since the builds are compared with each other.
--all-on: all-on.yaml on every cluster, as the scaling table applies it (Istio's CRDs everywhere: large bodies), instead
of the guide's topology.
"""
import argparse, os, sys, types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_bench as eb  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("old")
ap.add_argument("new", nargs="?", default=os.path.join(eb.BIN, "meshform"))
ap.add_argument("--remotes", type=int, default=300)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--latency", type=int, default=5)
ap.add_argument("--all-on", action="store_true", help="all-on.yaml on every cluster (the scaling table's apply)")
a = ap.parse_args()
eb.KUBECTL = None
args = types.SimpleNamespace(latency=a.latency, parallelism=50, repeat=1, peer_repeat=1, no_build=True)
for round in range(a.rounds):
    for label, binary in (("old", a.old), ("new", a.new)):
        os.environ["MESHFORM_BIN"] = os.path.abspath(binary)
        print(f"== round {round + 1}, {label}: {binary}", flush=True)
        if not a.all_on:
            eb.bench_apply(args, a.remotes, 50, sequential=False)
            continue
        s = eb.Setup(args, a.remotes, f"abapply{a.remotes}", everywhere=eb.ALL_ON, peers=False)
        try:
            r = s.apply(50)
            print(f"  all-on.yaml on 1+{a.remotes} clusters, {s.total:,} objects: {r.seconds:.2f} s, peak RSS {r.rss_mb:.0f} MB, "
                  f"CPU {r.cpu_s:.2f} s ({r.cpu_s / s.total * 1000:.3f} ms per object), KubeSim CPU {r.sim_cpu_s:.2f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            s.stop()
