#!/usr/bin/env python3
"""Engine benchmarks (issues 5, 6, 7): plan, apply and drift against KubeSim processes with injected
latency, next to the real kubectl on the same objects, in the same run.

  Benchmarks/engine_bench.py plan  [--remotes 20]           # no-change plan, 1 external + N remotes, all-on on each
  Benchmarks/engine_bench.py apply [--remotes 1,10,50]      # apply from nothing: the guide's topology + N remotes
  Benchmarks/engine_bench.py drift [--clusters 20 --objects 10000]
  Benchmarks/engine_bench.py all

Every figure printed says what was measured, on what, and against what. Wall times are medians of --repeat
runs; memory is the peak resident set of the meshform process (/usr/bin/time -f %M).
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "istio")
BIN = os.path.join(ROOT, ".build", "release")
KUBECTL = shutil.which("kubectl")


def build():
    subprocess.run(["swift", "build", "-c", "release", "--product", "meshform"], cwd=ROOT, check=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "kubesim"], cwd=ROOT, check=True)


class Sims:
    """KubeSim processes, one per cluster, each with its own kubeconfig (context = cluster name)."""

    def __init__(self, names, work, latency_ms):
        self.procs, self.kubeconfigs = [], {}
        for n in names:
            kc = os.path.join(work, f"{n}.kubeconfig")
            p = subprocess.Popen([os.path.join(BIN, "kubesim"), "--name", n, "--port", "0", "--kubeconfig", kc,
                                  "--latency-ms", str(latency_ms), "--controller-delay-ms", "10"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            p.stdout.readline()  # "kubesim NAME listening on ..."
            self.procs.append(p)
            self.kubeconfigs[n] = kc

    def env(self):
        e = dict(os.environ)
        e["KUBECONFIG"] = ":".join(self.kubeconfigs[n] for n in sorted(self.kubeconfigs))
        e["NO_COLOR"] = "1"
        return e

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(timeout=30)


def timed(cmd, env, ok=(0,)):
    """Runs cmd; returns (seconds, peak RSS in MB, stdout)."""
    out = tempfile.NamedTemporaryFile(delete=False)
    start = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + cmd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if r.returncode not in ok:
        open("/tmp/meshform-bench-failure.txt", "w").write(r.stdout + "\n" + r.stderr)
        sys.exit(f"{' '.join(cmd[:3])} exited {r.returncode} (full output: /tmp/meshform-bench-failure.txt):\n{r.stderr[-1500:]}")
    rss_kb = int(open(out.name).read().strip().splitlines()[-1])
    os.unlink(out.name)
    return elapsed, rss_kb / 1024, r.stdout


def manifests_dir(work, everywhere=None):
    """plans/demo's stand-ins; with `everywhere`, that file's objects replace each cluster's Istio components."""
    d = os.path.join(work, "manifests")
    shutil.copytree(os.path.join(ROOT, "plans", "demo"), d, dirs_exist_ok=True)
    if everywhere:
        for f in ["controlplane-gateway.yaml", "remote-config-cluster.yaml", "remote-cluster.yaml"]:
            shutil.copy(everywhere, os.path.join(d, f))
    return d


def mesh_file(work, name, remotes, manifests, workloads=()):
    lines = [f"mesh: {name}", "meshID: mesh1", "istio:", "  version: 1.24.0", "  renderer: manifests",
             f"  manifests: {manifests}", "clusters:", "  - {name: external, context: external, role: external}",
             "  - {name: r1, context: r1, role: config, network: network1}"]
    lines += [f"  - {{name: r{i}, context: r{i}, role: remote, network: network1}}" for i in range(2, remotes + 1)]
    lines += ["controlPlane:", "  namespace: external-istiod", "  address: istiod.bench.example.com",
              "  tls: {secretName: external-istiod-tls}"]
    if workloads:
        lines.append("workloads:")
        for (wname, cluster, path) in workloads:
            lines += [f"  - name: {wname}", f"    cluster: {cluster}", "    namespace: bench", "    manifests:", f"      - {path}"]
    path = os.path.join(work, f"{name}.yaml")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def meshform(*args):
    return [os.path.join(BIN, "meshform")] + list(args)


def objects_by_cluster(plan_json):
    """The objects a plan applies, per cluster: what kubectl is given, so both tools act on the same objects."""
    out = {}
    for c in json.loads(plan_json)["resource_changes"]:
        after = c["change"]["after"]
        if after:
            after = json.loads(json.dumps(after).replace("(known after apply)", "computed"))
            out.setdefault(c["cluster"], []).append(after)
    return out


def write_lists(work, objs, tag):
    """Per cluster, the order a user of kubectl must follow: CRDs and namespaces first, then everything else."""
    files = {}
    for cluster, items in objs.items():
        first = [o for o in items if o["kind"] in ("CustomResourceDefinition", "Namespace")]
        rest = [o for o in items if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
        files[cluster] = []
        for part, group in (("first", first), ("rest", rest)):
            if group:
                # A multi-document stream (JSON is YAML), as manifests are written: kubectl validates each object.
                p = os.path.join(work, f"{tag}-{cluster}-{part}.yaml")
                open(p, "w").write("".join("---\n" + json.dumps(o) + "\n" for o in group))
                files[cluster].append((p, any(o["kind"] == "CustomResourceDefinition" for o in group)))
    return files


def kubectl_each(sims, files, verb):
    """Runs kubectl on every cluster, one after the other as a user does (CRDs first, waiting until they are
    Established before the rest); returns total seconds. Failures are counted and reported, never hidden."""
    start = time.monotonic()
    failures = []
    for cluster, parts in files.items():
        base = [KUBECTL, "--kubeconfig", sims.kubeconfigs[cluster]]
        for f, has_crds in parts:
            if verb == "apply":
                r = subprocess.run(base + ["apply", "--server-side", "--force-conflicts", "-f", f], capture_output=True, text=True)
                ok = r.returncode == 0
                if ok and has_crds:
                    subprocess.run(base + ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"], capture_output=True)
            else:
                r = subprocess.run(base + ["diff", "--server-side", "--force-conflicts", "-f", f], capture_output=True, text=True)
                ok = r.returncode in (0, 1)
            if not ok:
                failures.append(f"{cluster}: {(r.stderr.strip().splitlines() or [''])[-1][:140]}")
    if failures:
        print(f"  (kubectl {verb} failed on {len(failures)} file(s), e.g. {failures[0]})")
    return time.monotonic() - start


def bench_plan(args):
    work = tempfile.mkdtemp(prefix="meshform-bench-plan-")
    names = ["external"] + [f"r{i}" for i in range(1, args.remotes + 1)]
    sims = Sims(names, work, args.latency)
    try:
        env = sims.env()
        mesh = mesh_file(work, "benchplan", args.remotes, manifests_dir(work, os.path.join(SHARED, "istioctl-output", "all-on.yaml")))
        state = ["--state", os.path.join(work, "plan.db")]
        _, _, out = timed(meshform("plan", mesh, "--json") + state, env)
        objs = objects_by_cluster(out)
        total = sum(len(v) for v in objs.values())
        timed(meshform("apply", mesh, "-auto-approve", "--parallelism", "50") + state, env)
        runs = [timed(meshform("plan", mesh, "-detailed-exitcode") + state, env) for _ in range(args.repeat)]
        t = statistics.median(r[0] for r in runs); rss = max(r[1] for r in runs)
        files = write_lists(work, objs, "plan")
        k = statistics.median(kubectl_each(sims, files, "diff") for _ in range(args.repeat)) if KUBECTL else None
        print(f"plan (no changes): 1 external + {args.remotes} remotes, {total} objects (all-on.yaml on each), "
              f"KubeSim latency {args.latency} ms")
        print(f"  meshform plan                      {t:7.2f} s   peak RSS {rss:6.1f} MB   (target < 1 s, < 200 MB)")
        if k is not None:
            print(f"  kubectl diff --server-side, each   {k:7.2f} s   ratio kubectl/meshform {k / t:5.1f}x")
    finally:
        sims.stop(); shutil.rmtree(work, ignore_errors=True)


def critical_path(dot):
    """Longest dependency chain in `meshform graph` output, in resources."""
    edges = re.findall(r'"([^"]+)"\s*->\s*"([^"]+)"', dot)
    deps = {}
    for a, b in edges:
        deps.setdefault(a, set()); deps.setdefault(b, set())
        deps[a].add(b)  # a -> b: which way the arrow points only flips the chain, not its length
    memo = {}
    def depth(n, seen=()):
        if n in memo: return memo[n]
        memo[n] = 1 + max((depth(m) for m in deps.get(n, ())), default=0)
        return memo[n]
    sys.setrecursionlimit(100000)
    return max((depth(n) for n in deps), default=0)


def bench_apply(args):
    for n in [int(x) for x in args.remotes_list.split(",")]:
        work = tempfile.mkdtemp(prefix=f"meshform-bench-apply{n}-")
        names = ["external"] + [f"r{i}" for i in range(1, n + 1)]
        sims = Sims(names, work, args.latency)
        try:
            env = sims.env()
            mesh = mesh_file(work, f"benchapply{n}", n, manifests_dir(work))
            _, _, out = timed(meshform("plan", mesh, "--json", "--state", os.path.join(work, "probe.db")), env)
            objs = objects_by_cluster(out); total = sum(len(v) for v in objs.values())
            _, _, dot = timed(meshform("graph", mesh), env)
            depth = critical_path(dot)
            t, rss, _ = timed(meshform("apply", mesh, "-auto-approve", "--parallelism", str(args.parallelism),
                                       "--state", os.path.join(work, "apply.db")), env)
            sims.stop()
            sims = Sims(names, work, args.latency)  # fresh clusters for kubectl, same objects
            k = kubectl_each(sims, write_lists(work, objs, "apply"), "apply") if KUBECTL else None
            lat = args.latency / 1000
            print(f"apply from nothing: guide topology + {n} remote(s), {total} objects, KubeSim latency {args.latency} ms, parallelism {args.parallelism}")
            print(f"  meshform apply                          {t:7.2f} s   peak RSS {rss:6.1f} MB")
            if k is not None:
                print(f"  kubectl apply --server-side, each       {k:7.2f} s   ratio kubectl/meshform {k / t:5.1f}x")
            print(f"  lower bounds: critical path {depth} steps x 2 requests x latency = {depth * 2 * lat:5.2f} s; "
                  f"{total} objects x 2 requests x latency / parallelism = {total * 2 * lat / args.parallelism:5.2f} s")
        finally:
            sims.stop(); shutil.rmtree(work, ignore_errors=True)


def bench_drift(args):
    work = tempfile.mkdtemp(prefix="meshform-bench-drift-")
    remotes = args.clusters - 1
    names = ["external"] + [f"r{i}" for i in range(1, remotes + 1)]
    sims = Sims(names, work, args.latency)
    try:
        env = sims.env()
        manifests = manifests_dir(work)
        # Size the per-cluster workload so the whole mesh manages about --objects objects.
        state = ["--state", os.path.join(work, "drift.db")]
        probe = mesh_file(work, "benchdrift", remotes, manifests)
        _, _, out = timed(meshform("plan", probe, "--json") + state, env)
        base = sum(len(v) for v in objects_by_cluster(out).values())
        per = max(1, (args.objects - base) // remotes)  # workloads go on the remotes (not the control-plane cluster)
        cm = os.path.join(work, "configmaps.yaml")
        with open(cm, "w") as f:
            for i in range(per):
                f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bench-{i:05d}}}\ndata: {{index: \"{i}\", owner: bench}}\n")
        mesh = mesh_file(work, "benchdrift", remotes, manifests,
                         workloads=[(f"bench-{c}", c, cm) for c in names if c != "external"])
        _, _, out = timed(meshform("plan", mesh, "--json") + state, env)
        objs = objects_by_cluster(out); total = sum(len(v) for v in objs.values())
        timed(meshform("apply", mesh, "-auto-approve", "--parallelism", "50") + state, env)
        runs = [timed(meshform("drift", mesh, "--quiet") + state, env) for _ in range(args.repeat)]
        t = statistics.median(r[0] for r in runs); rss = max(r[1] for r in runs)
        k = statistics.median(kubectl_each(sims, write_lists(work, objs, "drift"), "diff") for _ in range(args.repeat)) if KUBECTL else None
        print(f"drift (none present): {total} managed objects on {args.clusters} clusters, KubeSim latency {args.latency} ms")
        print(f"  meshform drift                     {t:7.2f} s   peak RSS {rss:6.1f} MB   (target < 2 s, < 300 MB)")
        if k is not None:
            print(f"  kubectl diff --server-side, each   {k:7.2f} s   ratio kubectl/meshform {k / t:5.1f}x")
    finally:
        sims.stop(); shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["plan", "apply", "drift", "all"])
    ap.add_argument("--remotes", type=int, default=20)
    ap.add_argument("--remotes-list", default="1,10,50")
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--latency", type=int, default=5, help="KubeSim latency, ms")
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(SHARED, "istioctl-output", "all-on.yaml")):
        sys.exit(f"needs ../shared/fixtures/istio (not found at {SHARED})")
    if not args.no_build:
        build()
    if not KUBECTL:
        print("kubectl not found: printing meshform's figures only")
    if args.which in ("plan", "all"): bench_plan(args)
    if args.which in ("apply", "all"): bench_apply(args)
    if args.which in ("drift", "all"): bench_drift(args)


if __name__ == "__main__":
    main()
