#!/usr/bin/env python3
"""Where meshform spends CPU and memory, on the benchmark's own setups (engine_bench.py), for whoever optimises next.

  Benchmarks/profile.py plan  [--remotes 20]    # no-change plan, all-on.yaml on each cluster
  Benchmarks/profile.py apply [--remotes 50]    # apply from nothing, parallelism 50
  options: --no-massif, --no-perf, --top 25, --out DIR (keeps perf.data and massif.out)

CPU: `perf record -g` (frame pointers and DWARF-less call graphs are enough for self cost); prints the top symbols
by self time and by inclusive time (children), demangled with `swift demangle --simplified`.
Memory: valgrind's massif (malloc'd heap); prints the peak snapshot's largest allocation sites.
Needs a release build (swift build -c release) and perf, valgrind.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_bench as eb  # noqa: E402


def demangle(text):
    r = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else text


def perf_top(data, top, children):
    mode = ["--children"] if children else ["--no-children"]
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "symbol", "-g", "none", "--percent-limit", "0.5"]
                       + mode, capture_output=True, text=True)
    rows = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")]
    return demangle("\n".join(rows[:top]))


def massif_top(out, top):
    r = subprocess.run(["ms_print", out], capture_output=True, text=True)
    text = r.stdout
    peak = re.search(r"^\s*(\d+)\s+[\d,]+\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*\n(?:.*\n)*?.*\(peak\)", text, re.M)
    # The peak snapshot is the detailed one ms_print marks "(peak)"; print its allocation tree, first levels only.
    i = text.find("(peak)")
    lines = text[i:].splitlines()[1:] if i >= 0 else []
    keep = [l for l in lines if re.match(r"^[|>\s]*->\s*\d+\.\d+%", l) or l.startswith("->") or re.match(r"^\|\s*->", l)]
    head = re.search(r"mem_heap_B=(\d+)", open(out).read())
    peaks = [int(x) for x in re.findall(r"mem_heap_B=(\d+)", open(out).read())]
    summary = f"heap peak {max(peaks) / 1048576:.1f} MB (massif, malloc'd heap)" if peaks else "no massif snapshots"
    return summary + "\n" + demangle("\n".join(keep[:top]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["plan", "apply"])
    ap.add_argument("--remotes", type=int, default=None)
    ap.add_argument("--latency", type=int, default=5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--no-massif", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix=f"meshform-profile-{args.which}-")
    os.makedirs(out, exist_ok=True)
    remotes = args.remotes or (20 if args.which == "plan" else 50)

    def setup():
        if args.which == "plan":
            s = eb.Setup(args, remotes, f"prof{remotes}", everywhere=eb.ALL_ON)
            s.apply()
            return s, eb.meshform("plan", s.mesh, "-detailed-exitcode") + s.state, (0, 2)
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
    if not args.no_massif:
        s, cmd, ok = setup()
        try:
            mout = os.path.join(out, "massif.out")
            r = subprocess.run(["valgrind", "--tool=massif", f"--massif-out-file={mout}", "--depth=12", "--threshold=2.0"] + cmd,
                               env=s.env, capture_output=True, text=True)
            if r.returncode not in ok:
                sys.exit(f"massif: {r.returncode}\n{r.stderr[-2000:]}")
            print("\n== Memory, peak snapshot by site (massif)")
            print(massif_top(mout, args.top * 2))
        finally:
            s.stop()


if __name__ == "__main__":
    main()
