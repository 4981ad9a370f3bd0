#!/usr/bin/env bash
# KubeSim alone: small GETs and server-side applies per second on loopback, one command.
#   Benchmarks/kubesim-bench.sh [--objects N] [--gets N] [--concurrency C] [--latency-ms L]
# Runs the Swift load generator (Benchmarks/KubeSimBench, target kubesim-bench) in release mode. If the
# package does not declare that target yet, it measures the kubesim executable with curl instead (one
# connection per curl worker, reused across requests), which reports the same figures less precisely.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH:-.build-sim}"
CONFIG="${CONFIG:-release}"   # CONFIG=debug for a quick check

if grep -q '"kubesim-bench"' Package.swift; then
  swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product kubesim-bench >/dev/null
  exec "$SCRATCH/$CONFIG/kubesim-bench" "$@"
fi

OBJECTS=2000; GETS=20000; CONC=8
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS=$2; shift 2;; --gets) GETS=$2; shift 2;; --concurrency) CONC=$2; shift 2;; *) shift;;
  esac
done
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product kubesim >/dev/null
WORK=$(mktemp -d); trap 'kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null; rm -rf "$WORK"' EXIT
"$SCRATCH/$CONFIG/kubesim" --port 0 --name bench --kubeconfig "$WORK/kubeconfig" > "$WORK/out" 2>&1 &
SIM=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$WORK/out")
TOKEN=$(sed -n 's/^ *token: //p' "$WORK/kubeconfig")
sed -n 's/^ *certificate-authority-data: //p' "$WORK/kubeconfig" | base64 -d > "$WORK/ca.crt"
umask 077; printf 'header = "Authorization: Bearer %s"\ncacert = "%s"\n' "$TOKEN" "$WORK/ca.crt" > "$WORK/auth"

# run LABEL COUNT METHOD URL-TEMPLATE [BODY-TEMPLATE CONTENT-TYPE]: CONC curl processes, each with COUNT/CONC requests.
run() {
  local label=$1 count=$2 method=$3 tmpl=$4 body=${5:-} ctype=${6:-application/json}
  local per=$(( count / CONC )) start end
  for w in $(seq 0 $((CONC - 1))); do
    : > "$WORK/cfg$w"
    for i in $(seq $((w * per)) $((w * per + per - 1))); do
      n=$(( (i * 7919) % OBJECTS ))
      { [ "$i" -gt $((w * per)) ] && echo 'next'; echo "url = \"$URL${tmpl//@N@/$n}\""; echo 'output = "/dev/null"'; echo "request = \"$method\""; cat "$WORK/auth";
        if [ -n "$body" ]; then echo "data = \"$(printf '%s' "${body//@N@/$n}" | sed 's/"/\\"/g')\""; echo "header = \"Content-Type: $ctype\""; fi
        echo 'write-out = "%{http_code}\n"'; } >> "$WORK/cfg$w"
    done
  done
  start=$(date +%s.%N)
  for w in $(seq 0 $((CONC - 1))); do curl -s --cacert "$WORK/ca.crt" -K "$WORK/cfg$w" > "$WORK/codes$w" & done
  wait $(jobs -p | grep -v "^$SIM$") 2>/dev/null || true
  end=$(date +%s.%N)
  local total ok
  total=$(cat "$WORK"/codes* | wc -l); ok=$(cat "$WORK"/codes* | grep -c '^20[01]$' || true)
  rm -f "$WORK"/codes*
  awk -v l="$label" -v n="$total" -v ok="$ok" -v s="$start" -v e="$end" 'BEGIN { printf "%-34s %9.0f req/s   (%d of %d ok, curl fallback)\n", l, n / (e - s), ok, n }'
}
echo "kubesim-bench (curl fallback: add the kubesim-bench target for the Swift load generator): $OBJECTS objects, $GETS GETs, $CONC workers"
BODY='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-@N@","labels":{"app":"bench"}},"data":{"key":"a"}}'
run "server-side apply (create/no-op)" "$OBJECTS" PATCH "/api/v1/namespaces/default/configmaps/cm-@N@?fieldManager=bench" "$BODY" application/apply-patch+yaml
run "GET one object" "$GETS" GET "/api/v1/namespaces/default/configmaps/cm-@N@"
