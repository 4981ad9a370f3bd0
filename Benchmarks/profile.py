#!/usr/bin/env python3
"""Where meshform spends CPU and memory, on the benchmark's own setups (engine_bench.py), for whoever optimises next.

  Benchmarks/profile.py plan  [--remotes 20]    # no-change plan, all-on.yaml on each cluster
  Benchmarks/profile.py apply [--remotes 50]    # apply from nothing, parallelism 50
  Benchmarks/profile.py drift [--remotes 19]    # drift, none present: 20 clusters, 10,000 objects (engine_bench's)
  Benchmarks/profile.py drift --all-on --remotes 100   # drift as the scaling table runs it
  options: --no-memory, --no-perf, --top 25, --out DIR (keeps perf.data and heaptrack's file)

CPU: `perf record -g` (frame pointers and DWARF-less call graphs are enough for self cost); prints the top symbols
by self time and by inclusive time (children), demangled with `swift demangle --simplified`.
Memory: heaptrack (valgrind's massif cannot read Swift 6 binaries on Debian 12); prints the peak heap and its largest
allocation sites. Needs a release build (swift build -c release), perf and heaptrack.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_bench as eb  # noqa: E402


def demangle(text):
    r = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else text


# Frames every call stack passes through (threads, executors, event loops): not where the time goes.
PLUMBING = re.compile(r"start_thread|_dispatch|swift_job_run|runJobIn|ThreadOps|NIOThread|EventLoop|Selector|\[k\]|thunk for|^0x")


def perf_top(data, top, children):
    mode = ["--children"] if children else ["--no-children"]
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "symbol", "-g", "none", "--percent-limit", "0.3"]
                       + mode, capture_output=True, text=True)
    rows = demangle("\n".join(l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#"))).splitlines()
    rows = [re.sub(r"\s+-\s+-\s*$", "", re.sub(r" {2,}", " ", l)).strip() for l in rows]
    if children:  # inclusive: meshform's own functions and libraries, not the plumbing every stack shares
        rows = [l for l in rows if not PLUMBING.search(l.split("] ", 1)[-1] if "] " in l else l) and "[k]" not in l]
    return "\n".join(rows[:top])


# Where allocations are made in the project's own code (and the libraries that hold decoded data).
OWN = re.compile(r"JSON|YAML|Kubeconfig|Planner|Plan|Drift|Live|State|Managed|Executor|Compiler|Clusters|KubeClient|"
                 r"MeshSession|FieldDiff|Transport|Render|Manifest|Resource|Snapshot|Walk|Graph")


def heap_top(data, top):
    """The peak heap, and which functions hold it: heaptrack's peak cost per call stack, summed per function over the
    stacks it is on (inclusive), the project's own functions first. Demangled."""
    r = subprocess.run(["heaptrack_print", "-f", data, "--print-peaks", "0", "--print-allocators", "0", "--print-leaks", "0",
                        "--print-temporary", "0"], capture_output=True, text=True)
    summary = "\n".join(l for l in r.stdout.splitlines() if l.startswith(("peak heap memory", "peak RSS", "calls to allocation")))
    stacks = os.path.join(os.path.dirname(data), "heap-peak-stacks.txt")
    subprocess.run(["heaptrack_print", "-f", data, "--print-peaks", "0", "--print-allocators", "0", "--print-leaks", "0",
                    "--print-temporary", "0", "-F", stacks, "--flamegraph-cost-type", "peak"],
                   capture_output=True, text=True)
    lines = demangle(open(stacks).read()).splitlines()
    inclusive, total = {}, 0
    for line in lines:
        frames, _, cost = line.rpartition(" ")
        if not cost.isdigit():
            continue
        total += int(cost)
        for f in set(re.sub(r" \([^()]*\)$", "", x) for x in frames.split(";")):
            inclusive[f] = inclusive.get(f, 0) + int(cost)
    ranked = sorted(((c, f) for f, c in inclusive.items() if OWN.search(f) and "thunk" not in f and "swift::" not in f), reverse=True)
    rows = [f"{c / 1048576:8.1f} MB {100 * c / max(total, 1):5.1f}%  {f[:150]}" for c, f in ranked[:top]]
    return summary + "\n(inclusive heap at peak, by function; project code)\n" + "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["plan", "apply", "drift"])
    ap.add_argument("--remotes", type=int, default=None)
    ap.add_argument("--latency", type=int, default=5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--all-on", action="store_true", help="drift: all-on.yaml on every cluster (the scaling table's setup)")
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix=f"meshform-profile-{args.which}-")
    os.makedirs(out, exist_ok=True)
    remotes = args.remotes or {"plan": 20, "apply": 50, "drift": 19}[args.which]

    def setup():
        if args.which == "plan":
            s = eb.Setup(args, remotes, f"prof{remotes}", everywhere=eb.ALL_ON)
            s.apply()
            return s, eb.meshform("plan", s.mesh, "-detailed-exitcode") + s.state, (0, 2)
        if args.which == "drift":
            s = (eb.Setup(args, remotes, f"prof{remotes}", everywhere=eb.ALL_ON) if args.all_on
                 else eb.Setup(args, remotes, f"prof{remotes}", workload_objects=10000))
            s.apply()
            return s, eb.meshform("drift", s.mesh, "--quiet") + s.state, (0,)
        s = eb.Setup(args, remotes, f"prof{remotes}")
        return s, eb.meshform("apply", s.mesh, "-auto-approve", "--parallelism", "50") + s.state, (0,)

    print(f"profile: {args.which}, 1 external + {remotes} remotes, latency {args.latency} ms, release build; files in {out}")
    if not args.no_perf:
        s, cmd, ok = setup()
        try:
            data = os.path.join(out, "perf.data")
            r = subprocess.run(["perf", "record", "-g", "-F", "2000", "-o", data, "--"] + cmd, env=s.env, capture_output=True, text=True)
            if r.returncode not in ok:
                sys.exit(f"perf record: {r.returncode}\n{r.stderr[-2000:]}")
            print("\n== CPU, self time (perf, % of samples)")
            print(perf_top(data, args.top, children=False))
            print("\n== CPU, inclusive time (perf --children)")
            print(perf_top(data, args.top, children=True))
        finally:
            s.stop()
    if not args.no_memory:
        s, cmd, ok = setup()
        try:
            # heaptrack, not valgrind's massif: valgrind 3.19 (Debian 12) cannot read the DWARF 5 Swift 6 writes, and
            # on a copy without it, crashes inside Swift concurrency's threads.
            prefix = os.path.join(out, "heaptrack")
            r = subprocess.run(["heaptrack", "-o", prefix] + cmd, env=s.env, capture_output=True, text=True)
            if r.returncode not in ok:
                sys.exit(f"heaptrack: {r.returncode}\n{r.stdout[-1000:]}\n{r.stderr[-2000:]}")
            data = next(os.path.join(out, f) for f in os.listdir(out) if f.startswith("heaptrack"))
            print("\n== Memory (heaptrack): peak heap and its largest allocation sites")
            print(heap_top(data, args.top))
        finally:
            s.stop()


if __name__ == "__main__":
    main()
