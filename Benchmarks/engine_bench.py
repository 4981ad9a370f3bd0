#!/usr/bin/env python3
"""Engine benchmarks (issues 5, 6, 7, 17): plan, apply and drift against a KubeSim fleet (one process serving one
virtual cluster per port) with injected latency, next to the real kubectl on the same objects, in the same run.

  Benchmarks/engine_bench.py table                  # issue 17's table: figures, goals, met or not
  Benchmarks/engine_bench.py scaling [--with-1000]  # plan, drift, apply at 10, 50, 100 (and 1,000) clusters
  Benchmarks/engine_bench.py plan  [--remotes 20]   # no-change plan, 1 external + N remotes, all-on.yaml on each
  Benchmarks/engine_bench.py apply [--remotes 50]   # apply from nothing: the guide's topology + N remotes
  Benchmarks/engine_bench.py drift [--clusters 20 --objects 10000]
  Benchmarks/engine_bench.py all                    # table, then scaling

Every figure line says what was measured, on how many objects, at what latency, with which caches warm, and how
many runs it is the median of. Meshform's figures: wall time, peak resident set (/usr/bin/time %M) and CPU time
(user + system). kubectl runs as two peers on the same objects and the same clusters:
  - parallel: one kubectl per cluster, all at once (what a competent user scripts), and
  - sequential: cluster after cluster.
For apply both peers perform the waits Meshform performs (`kubectl wait` for every CRD Established, Deployment
Available, LoadBalancer address and token Meshform waits for), but without Meshform's cross-cluster order and with
each cluster's waits batched at its end: both favour kubectl.
Caches: Meshform's parsed-manifest cache is warm (MESHFORM_CACHE_DIR, filled by an earlier untimed run), Meshform
keeps no discovery cache; kubectl's discovery cache (--cache-dir) is warm (one untimed `kubectl api-resources` per
cluster first).
"""
import argparse, concurrent.futures, json, os, re, resource, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "istio")
ALL_ON = os.path.join(SHARED, "istioctl-output", "all-on.yaml")
BIN = os.path.join(ROOT, ".build", "release")
KUBECTL = shutil.which("kubectl")
CONTROLLER_DELAY_MS = 10


def build():
    for product in ("meshform", "kubesim"):
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)


class Fleet:
    """One kubesim process serving every cluster (`kubesim --fleet`), one port and kubeconfig each."""

    def __init__(self, names, work, latency_ms):
        self.dir = tempfile.mkdtemp(prefix="fleet-", dir=work)
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "kubesim"), "--fleet", ",".join(names), "--kubeconfig-dir", self.dir,
             "--latency-ms", str(latency_ms), "--controller-delay-ms", str(CONTROLLER_DELAY_MS)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in names:
            if not self.proc.stdout.readline():  # "kubesim NAME listening on ..."
                sys.exit(f"kubesim --fleet of {len(names)} clusters did not start")
        self.kubeconfigs = {n: os.path.join(self.dir, f"{n}.kubeconfig") for n in names}
        self.kubectl_cache = os.path.join(work, "kubectl-cache")

    def env(self, work):
        e = dict(os.environ)
        e["KUBECONFIG"] = ":".join(self.kubeconfigs[n] for n in sorted(self.kubeconfigs))
        e["NO_COLOR"] = "1"
        e["MESHFORM_CACHE_DIR"] = os.path.join(work, "meshform-cache")
        return e

    def kubectl(self, cluster):
        return [KUBECTL, "--kubeconfig", self.kubeconfigs[cluster], "--cache-dir", self.kubectl_cache]

    def warm_kubectl(self):
        """Fills kubectl's discovery cache for every cluster (untimed), so the peers run warm as a user's does."""
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda c: subprocess.run(self.kubectl(c) + ["api-resources", "-o", "name"], capture_output=True),
                          self.kubeconfigs))

    def cpu(self):
        """CPU seconds the fleet process has used so far (/proc/PID/stat utime + stime): the clusters' own cost, so
        a figure bound by the simulated servers rather than by the client shows as such."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


class Run:
    """One measured meshform run (sim_cpu_s: what the KubeSim fleet spent meanwhile, when known)."""
    def __init__(self, seconds, rss_mb, cpu_s, out, sim_cpu_s=None):
        self.seconds, self.rss_mb, self.cpu_s, self.out, self.sim_cpu_s = seconds, rss_mb, cpu_s, out, sim_cpu_s


def timed(cmd, env, ok=(0,), fleet=None):
    """Runs cmd under /usr/bin/time: wall seconds, peak RSS (MB), CPU seconds (user + system), stdout."""
    out = tempfile.NamedTemporaryFile(delete=False)
    sim0 = fleet.cpu() if fleet else None
    start = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", out.name] + cmd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if r.returncode not in ok:
        open("/tmp/meshform-bench-failure.txt", "w").write(r.stdout + "\n" + r.stderr)
        sys.exit(f"{' '.join(cmd[:3])} exited {r.returncode} (full output: /tmp/meshform-bench-failure.txt):\n{r.stderr[-1500:]}")
    rss_kb, user, system = open(out.name).read().strip().splitlines()[-1].split()
    os.unlink(out.name)
    return Run(elapsed, int(rss_kb) / 1024, float(user) + float(system), r.stdout, fleet.cpu() - sim0 if fleet else None)


def median_run(cmd, env, repeat, ok=(0,), fleet=None):
    runs = [timed(cmd, env, ok, fleet) for _ in range(repeat)]
    sims = [r.sim_cpu_s for r in runs if r.sim_cpu_s is not None]
    return Run(statistics.median(r.seconds for r in runs), max(r.rss_mb for r in runs),
               statistics.median(r.cpu_s for r in runs), runs[-1].out, statistics.median(sims) if sims else None)


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
    # The demo's self-signed certificate (plans/demo/tls), so meshform creates the TLS Secret its reachability gate
    # requires; no handshake check, as nothing serves TLS at a benchmark's address.
    lines += ["controlPlane:", "  namespace: external-istiod", "  address: istiod.bench.example.com",
              f"  tls: {{secretName: external-istiod-tls, certFile: {manifests}/tls/gateway.crt, "
              f"keyFile: {manifests}/tls/gateway.key, checkHandshake: false}}"]
    if workloads:
        lines.append("workloads:")
        for (wname, cluster, path) in workloads:
            lines += [f"  - name: {wname}", f"    cluster: {cluster}", "    namespace: bench", "    manifests:", f"      - {path}"]
    path = os.path.join(work, f"{name}.yaml")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def cluster_names(remotes):
    return ["external"] + [f"r{i}" for i in range(1, remotes + 1)]


def meshform(*args):
    """The meshform command; MESHFORM_BIN measures another build (e.g. a copy from before a change)."""
    return [os.environ.get("MESHFORM_BIN") or os.path.join(BIN, "meshform")] + list(args)


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


# ---- the graph: readiness waits and the apply lower bound ---------------------------------------------------------

def graph(dot):
    """(dependencies, addresses apply waits for) from `meshform graph`: an edge a -> b means a waits for b; a bold
    vertex is one whose readiness apply waits for (GraphDOT.swift)."""
    deps = {}
    for a, b in re.findall(r'^\s*"([^"]+)"\s*->\s*"([^"]+)";', dot, re.M):
        deps.setdefault(a, set()).add(b); deps.setdefault(b, set())
    waited = set()
    for addr, attrs in re.findall(r'^\s*"([^"]+)"\s*\[(.*)\];$', dot, re.M):
        deps.setdefault(addr, set())
        if re.search(r'style="[^"]*bold', attrs):
            waited.add(addr)
    return deps, waited


def apply_lower_bound(deps, waited, latency_ms, parallelism):
    """What apply cannot beat, from the real graph: (a) the longest dependency chain where every step is one write
    (one request) and a waited-for step adds the controller's delay and the read that sees it ready; (b) every
    request (one write per object, one read per wait) spread over `parallelism` slots. Both after discovery and the
    live read of a plan (2 requests). Returns (bound, chain steps, chain seconds, throughput seconds)."""
    lat, delay = latency_ms / 1000, CONTROLLER_DELAY_MS / 1000
    cost = {a: lat + ((delay + lat) if a in waited else 0) for a in deps}
    memo, steps = {}, {}
    sys.setrecursionlimit(1000000)
    def longest(n):
        if n not in memo:
            best = max(deps[n], key=longest, default=None)
            memo[n] = cost[n] + (memo[best] if best else 0)
            steps[n] = 1 + (steps[best] if best else 0)
        return memo[n]
    chain = max((longest(n) for n in deps), default=0)
    chain_steps = max(steps.values(), default=0)
    throughput = (len(deps) + len(waited)) * lat / parallelism
    return 2 * lat + max(chain, throughput), chain_steps, 2 * lat + chain, 2 * lat + throughput


def kubectl_waits(waited):
    """Per cluster, the `kubectl wait` arguments for what Meshform waits for, batched by kind and namespace."""
    how = {"CustomResourceDefinition": "--for=condition=Established", "Deployment": "--for=condition=Available",
           "Service": "--for=jsonpath={.status.loadBalancer.ingress}", "Secret": "--for=jsonpath={.data.token}"}
    out = {}
    for addr in sorted(waited):
        cluster, _group, kind, ns, name = addr.split("/", 4)
        if kind in how:
            key = (kind, ns)
            out.setdefault(cluster, {}).setdefault(key, []).append(f"{kind.lower()}/{name}")
    return {c: [["wait", how[k], "--timeout=120s"] + (["-n", ns] if ns != "_" else []) + names
                for (k, ns), names in groups.items()] for c, groups in out.items()}


# ---- the kubectl peers --------------------------------------------------------------------------------------------

def kubectl_cluster(fleet, cluster, parts, verb, waits):
    """One cluster as a user does it: CRDs and namespaces, wait until the CRDs are Established, the rest, then the
    waits Meshform performs (apply only). Returns failures (never hidden)."""
    base = fleet.kubectl(cluster)
    failures = []
    for f, has_crds in parts:
        if verb == "apply":
            r = subprocess.run(base + ["apply", "--server-side", "--force-conflicts", "-f", f], capture_output=True, text=True)
            ok = r.returncode == 0
            if ok and has_crds:
                subprocess.run(base + ["wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"], capture_output=True)
        else:
            r = subprocess.run(base + ["diff", "--server-side", "--force-conflicts", "-f", f], capture_output=True, text=True)
            ok = r.returncode in (0, 1)
        if not ok:
            failures.append(f"{cluster}: {(r.stderr.strip().splitlines() or [''])[-1][:140]}")
    if verb == "apply":
        for w in waits.get(cluster, []):
            r = subprocess.run(base + w, capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{cluster} {' '.join(w[:2])}: {(r.stderr.strip().splitlines() or [''])[-1][:140]}")
    return failures


class Peer:
    def __init__(self, seconds, cpu_s, runs, sim_cpu_s):
        self.seconds, self.cpu_s, self.runs, self.sim_cpu_s = seconds, cpu_s, runs, sim_cpu_s


def kubectl_peer(fleet, files, verb, parallel, repeat=1, waits=None):
    """Every cluster, one after the other or one kubectl per cluster at once. Median wall seconds and the CPU time
    of all kubectl processes (from this process's children's rusage)."""
    times, cpus, sims = [], [], []
    for _ in range(repeat):
        sim0 = fleet.cpu()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        jobs = lambda c: kubectl_cluster(fleet, c, files[c], verb, waits or {})
        if parallel:
            with concurrent.futures.ThreadPoolExecutor(max(1, len(files))) as pool:
                failures = sum(pool.map(jobs, files), [])
        else:
            failures = sum(map(jobs, files), [])
        times.append(time.monotonic() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        sims.append(fleet.cpu() - sim0)
        if failures:
            print(f"    (kubectl {verb} failed {len(failures)} time(s), e.g. {failures[0]})")
    return Peer(statistics.median(times), statistics.median(cpus), repeat, statistics.median(sims))


# ---- printing -----------------------------------------------------------------------------------------------------

def runs_label(n):
    return "1 run" if n == 1 else f"median of {n}"


def print_meshform(label, r, objects, clusters, latency, repeat, extra=""):
    print(f"  meshform {label:<28} {r.seconds:7.2f} s  peak RSS {r.rss_mb:7.1f} MB  CPU {r.cpu_s:6.2f} s"
          + (f"  KubeSim CPU {r.sim_cpu_s:6.2f} s" if r.sim_cpu_s is not None else "")
          + f"  [{objects:,} objects, {clusters} clusters, latency {latency} ms, manifest cache warm, {runs_label(repeat)}{extra}]")


def print_peer(label, p, t, objects, clusters, latency, waits=""):
    print(f"  kubectl {label:<29} {p.seconds:7.2f} s  {p.seconds / t:5.1f}x meshform's time   CPU {p.cpu_s:6.2f} s"
          f"  KubeSim CPU {p.sim_cpu_s:6.2f} s"
          f"  [same {objects:,} objects, {clusters} clusters, latency {latency} ms, discovery cache warm, {runs_label(p.runs)}{waits}]")


# ---- the benchmarks -----------------------------------------------------------------------------------------------

class Setup:
    """A fleet, a mesh applied to it (untimed unless asked), and the objects per cluster."""

    def __init__(self, args, remotes, tag, everywhere=None, workload_objects=0, peers=True):
        self.work = tempfile.mkdtemp(prefix=f"meshform-bench-{tag}-")
        self.names = cluster_names(remotes)
        self.fleet = Fleet(self.names, self.work, args.latency)
        self.env = self.fleet.env(self.work)
        self.manifests = manifests_dir(self.work, everywhere)
        self.state = ["--state", os.path.join(self.work, f"{tag}.db")]
        self.mesh = mesh_file(self.work, f"bench{tag}", remotes, self.manifests)
        if workload_objects:
            # Size a ConfigMap workload on every remote so the whole mesh manages about `workload_objects` objects.
            base = sum(len(v) for v in objects_by_cluster(timed(meshform("plan", self.mesh, "--json") + self.state, self.env).out).values())
            per = max(1, (workload_objects - base) // remotes)
            cm = os.path.join(self.work, "configmaps.yaml")
            with open(cm, "w") as f:
                for i in range(per):
                    f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bench-{i:05d}}}\ndata: {{index: \"{i}\", owner: bench}}\n")
            self.mesh = mesh_file(self.work, f"bench{tag}", remotes, self.manifests,
                                  workloads=[(f"bench-{c}", c, cm) for c in self.names if c != "external"])
        if peers:
            plan = timed(meshform("plan", self.mesh, "--json") + self.state, self.env)  # also fills the manifest cache
            self.objs = objects_by_cluster(plan.out)
            self.total = sum(len(v) for v in self.objs.values())
        else:
            # No kubectl peer needs the objects: only their number, from the text plan's summary (a JSON plan of a
            # 1,000-cluster mesh is about a gigabyte).
            plan = timed(meshform("plan", self.mesh) + self.state, self.env)  # also fills the manifest cache
            self.objs = None
            self.total = int(re.search(r"Plan: (\d+) to add", plan.out).group(1))

    def apply(self, parallelism=50):
        return timed(meshform("apply", self.mesh, "-auto-approve", "--parallelism", str(parallelism)) + self.state, self.env,
                     fleet=self.fleet)

    def stop(self):
        self.fleet.stop(); shutil.rmtree(self.work, ignore_errors=True)


def bench_plan(args, remotes, sequential=True):
    s = Setup(args, remotes, f"plan{remotes}", everywhere=ALL_ON)
    try:
        s.apply()
        r = median_run(meshform("plan", s.mesh, "-detailed-exitcode") + s.state, s.env, args.repeat, fleet=s.fleet)
        n = len(s.names)
        print(f"plan, no change: 1 external + {remotes} remotes, all-on.yaml on each")
        print_meshform("plan -detailed-exitcode", r, s.total, n, args.latency, args.repeat)
        par = seq = None
        if KUBECTL:
            s.fleet.warm_kubectl()
            files = write_lists(s.work, s.objs, "plan")
            par = kubectl_peer(s.fleet, files, "diff", True, args.peer_repeat)
            print_peer("diff --server-side, parallel", par, r.seconds, s.total, n, args.latency)
            if sequential:
                seq = kubectl_peer(s.fleet, files, "diff", False, args.peer_repeat)
                print_peer("diff --server-side, sequential", seq, r.seconds, s.total, n, args.latency)
        return r, s.total, par, seq
    finally:
        s.stop()


def bench_drift(args, clusters=20, objects=10000, sequential=True):
    s = Setup(args, clusters - 1, "drift", workload_objects=objects)
    try:
        s.apply()
        r = median_run(meshform("drift", s.mesh, "--quiet") + s.state, s.env, args.repeat, fleet=s.fleet)
        print(f"drift (none present): {clusters} clusters, plans/demo stand-ins plus ConfigMaps on every remote")
        print_meshform("drift --quiet", r, s.total, clusters, args.latency, args.repeat)
        par = seq = None
        if KUBECTL:
            s.fleet.warm_kubectl()
            files = write_lists(s.work, s.objs, "drift")
            par = kubectl_peer(s.fleet, files, "diff", True, args.peer_repeat)
            print_peer("diff --server-side, parallel", par, r.seconds, s.total, clusters, args.latency)
            if sequential:
                seq = kubectl_peer(s.fleet, files, "diff", False, args.peer_repeat)
                print_peer("diff --server-side, sequential", seq, r.seconds, s.total, clusters, args.latency)
        return r, s.total, par, seq
    finally:
        s.stop()


def bench_apply(args, remotes, parallelism, sequential=True):
    s = Setup(args, remotes, f"apply{remotes}")
    try:
        deps, waited = graph(timed(meshform("graph", s.mesh), s.env).out)
        bound, steps, chain, throughput = apply_lower_bound(deps, waited, args.latency, parallelism)
        r = s.apply(parallelism)
        n = len(s.names)
        print(f"apply from nothing: the guide's topology (plans/demo stand-ins) + {remotes} remotes, parallelism {parallelism}")
        print_meshform("apply", r, s.total, n, args.latency, 1,
                       f", {r.cpu_s / s.total * 1000:.2f} ms CPU per object")
        print(f"  lower bound {bound:5.2f} s = max(dependency chain of {steps} steps with {len(waited)} readiness waits "
              f"{chain:5.2f} s, {len(deps) + len(waited)} requests x {args.latency} ms / {parallelism} = {throughput:5.2f} s)"
              f"; meshform is {r.seconds / bound:4.1f}x the bound")
        if r.sim_cpu_s is not None:
            # Meshform and the simulated clusters share this machine's cores: their CPU together floors the wall time,
            # whatever the latency bound says (a real fleet's API servers run elsewhere).
            cores = os.cpu_count()
            print(f"  CPU floor here {(r.cpu_s + r.sim_cpu_s) / cores:5.2f} s = (meshform CPU {r.cpu_s:.2f} s + KubeSim CPU "
                  f"{r.sim_cpu_s:.2f} s) / {cores} cores; KubeSim's CPU alone floors it at {r.sim_cpu_s / cores:.2f} s")
        par = seq = None
        if KUBECTL:
            waits = kubectl_waits(waited)
            files = write_lists(s.work, s.objs, "apply")
            for p in (True, False) if sequential else (True,):
                s.fleet.stop()
                s.fleet = Fleet(s.names, s.work, args.latency)  # fresh clusters for each kubectl peer, same objects
                s.fleet.warm_kubectl()
                peer = kubectl_peer(s.fleet, files, "apply", p, 1, waits)
                print_peer(f"apply --server-side, {'parallel' if p else 'sequential'}", peer, r.seconds, s.total, n,
                           args.latency, ", same waits")
                if p: par = peer
                else: seq = peer
        return r, s.total, bound, par, seq
    finally:
        s.stop()


def verdict(ok):
    return "met" if ok else "NOT met"


def fmt_peer(p):
    return f"{p.seconds:.2f} s" if p else "-"


def bench_table(args):
    """Issue 17's table: each goal beside its figure, and whether it is met."""
    rows = []
    r20, n20, par20, seq20 = bench_plan(args, 20)
    rows.append(("plan, no change, 1+20", n20, r20, par20, seq20, "< 0.4 s, < 120 MB",
                 r20.seconds < 0.4 and r20.rss_mb < 120))
    print()
    r100, n100, par100, _ = bench_plan(args, 100, sequential=False)
    rows.append(("plan, no change, 1+100", n100, r100, par100, None, "< 1.5 s, < 300 MB",
                 r100.seconds < 1.5 and r100.rss_mb < 300))
    print()
    rd, nd, pard, seqd = bench_drift(args)
    rows.append(("drift, 20 clusters", nd, rd, pard, seqd, "< 0.7 s, < 150 MB", rd.seconds < 0.7 and rd.rss_mb < 150))
    print()
    ra, na, bound, para, seqa = bench_apply(args, 50, 50)
    cpu_per = ra.cpu_s / na * 1000
    rows.append((f"apply from nothing, 50 remotes, par. 50", na, ra, para, seqa,
                 f"< 2x bound ({2 * bound:.2f} s), < 0.3 ms CPU/object (is {cpu_per:.2f})",
                 ra.seconds < 2 * bound and cpu_per < 0.3))
    print()
    print(f"Issue 17: release build, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end (wall "
          f"times inflate with load; CPU times much less), KubeSim fleet (one process), latency {args.latency} ms, controller delay "
          f"{CONTROLLER_DELAY_MS} ms, caches warm; meshform median of {args.repeat}, kubectl {runs_label(args.peer_repeat)} "
          f"(apply: 1 run)")
    print(f"| work | objects | meshform | peak RSS | CPU | KubeSim CPU | kubectl, one per cluster in parallel | kubectl, cluster after cluster | goal | met |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, n, r, par, seq, goal, ok in rows:
        sim = f"{r.sim_cpu_s:.2f} s" if r.sim_cpu_s is not None else "-"
        print(f"| {name} | {n:,} | {r.seconds:.2f} s | {r.rss_mb:.0f} MB | {r.cpu_s:.2f} s | {sim} | {fmt_peer(par)} | {fmt_peer(seq)} "
              f"| {goal} | {verdict(ok)} |")


def bench_scaling(args):
    """Plan (no change), drift (none) and apply (from nothing) at growing fleet sizes, all-on.yaml on every cluster,
    meshform only (kubectl peers are in the table): how cost grows per object."""
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [10, 50, 100] + ([1000] if args.with_1000 else [])
    rows = []
    for clusters in sizes:
        # The 1,000-cluster point takes minutes per run: its figures are single runs unless asked (--repeat-1000).
        repeat = args.repeat if clusters < 1000 else args.repeat_1000
        s = Setup(args, clusters - 1, f"scale{clusters}", everywhere=ALL_ON, peers=False)
        try:
            a = s.apply(50)
            p = median_run(meshform("plan", s.mesh, "-detailed-exitcode") + s.state, s.env, repeat, fleet=s.fleet)
            d = median_run(meshform("drift", s.mesh, "--quiet") + s.state, s.env, repeat, fleet=s.fleet)
            state_mb = sum(os.path.getsize(s.state[1] + x) for x in ("", "-wal") if os.path.exists(s.state[1] + x)) / 1e6
            rows.append((clusters, s.total, p, d, a, repeat, state_mb))
            print(f"  {clusters:5} clusters, {s.total:6,} objects, state {state_mb:.1f} MB: plan {p.seconds:6.2f} s {p.rss_mb:6.0f} MB CPU {p.cpu_s:6.2f} s, "
                  f"drift {d.seconds:6.2f} s {d.rss_mb:6.0f} MB CPU {d.cpu_s:6.2f} s, "
                  f"apply {a.seconds:6.2f} s {a.rss_mb:6.0f} MB CPU {a.cpu_s:6.2f} s  [{runs_label(repeat)}]", flush=True)
        finally:
            s.stop()
    print()
    print(f"Scaling: release build, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, KubeSim fleet (one process), "
          f"all-on.yaml on every cluster, latency {args.latency} ms, "
          f"manifest cache warm; plan and drift median of {args.repeat} (1,000 clusters: {runs_label(args.repeat_1000)}), "
          f"apply (from nothing, parallelism 50) 1 run"
          + ("" if args.with_1000 else "; the 1,000-cluster point needs --with-1000 (about 50,000 objects, minutes)"))
    print("| clusters | objects | state file | plan | plan RSS | plan CPU/object | drift | drift RSS | drift CPU/object | apply | apply RSS | apply CPU/object | goal (1,000: plan and drift < 15 s, < 1.5 GB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for clusters, n, p, d, a, _, state_mb in rows:
        goal = "-"
        if clusters == 1000:
            goal = verdict(p.seconds < 15 and p.rss_mb < 1536 and d.seconds < 15 and d.rss_mb < 1536)
        per = lambda r: f"{r.cpu_s / n * 1000:.2f} ms"
        print(f"| {clusters:,} | {n:,} | {state_mb:.1f} MB | {p.seconds:.2f} s | {p.rss_mb:.0f} MB | {per(p)} | {d.seconds:.2f} s | {d.rss_mb:.0f} MB "
              f"| {per(d)} | {a.seconds:.2f} s | {a.rss_mb:.0f} MB | {per(a)} | {goal} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["table", "scaling", "plan", "apply", "drift", "all"])
    ap.add_argument("--remotes", type=int, default=None, help="plan: 20, apply: 50")
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--latency", type=int, default=5, help="KubeSim latency, ms")
    ap.add_argument("--parallelism", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="meshform runs per figure (median)")
    ap.add_argument("--peer-repeat", type=int, default=1, help="kubectl runs per plan/drift figure (median)")
    ap.add_argument("--with-1000", action="store_true", help="scaling: add the 1,000-cluster point")
    ap.add_argument("--repeat-1000", type=int, default=1, help="meshform runs per figure at 1,000 clusters (median)")
    ap.add_argument("--sizes", default=None, help="scaling: the cluster counts, comma-separated (default 10,50,100[,1000])")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(ALL_ON):
        sys.exit(f"needs ../shared/fixtures/istio (not found at {SHARED})")
    if not args.no_build:
        build()
    if not KUBECTL:
        print("kubectl not found: printing meshform's figures only")
    if args.which == "plan": bench_plan(args, args.remotes or 20)
    if args.which == "apply": bench_apply(args, args.remotes or 50, args.parallelism)
    if args.which == "drift": bench_drift(args, args.clusters, args.objects)
    if args.which in ("table", "all"): bench_table(args)
    if args.which in ("scaling", "all"):
        print(); bench_scaling(args)


if __name__ == "__main__":
    main()
