#!/usr/bin/env python3
"""Helm v4's real engine (PyPI helm-sdkpy: Helm's Go library behind cffi) as a client of a cluster, for tests that
hold KubeSim to what client-go expects of an API server (issue 11). It does what `helm install/upgrade/uninstall/
history` do, against the cluster a kubeconfig names, and prints Helm's answer as one JSON object on stdout:

    helm-client.py install   KUBECONFIG NAMESPACE RELEASE CHART [--values FILE] [--server-side] [--wait]
    helm-client.py upgrade   KUBECONFIG NAMESPACE RELEASE CHART [--values FILE] [--server-side] [--wait]
    helm-client.py uninstall KUBECONFIG NAMESPACE RELEASE
    helm-client.py history   KUBECONFIG NAMESPACE RELEASE

Values files may be JSON or YAML. Helm's errors go to stderr with exit 1. Needs Python 3.12+ with helm-sdkpy
(../shared/tools/helm/setup installs it). Tests/EndToEndTests/HelmClientTests.swift runs it.
"""
import asyncio
import json
import sys


def main(argv):
    if len(argv) < 4 or argv[0] not in ("install", "upgrade", "uninstall", "history"):
        sys.exit(__doc__)
    import helm_sdkpy as helm

    verb, kubeconfig, namespace, release = argv[:4]
    rest = argv[4:]
    chart = None
    values, server_side, wait = None, False, False
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--values":
            import yaml  # PyYAML comes with ../shared/tools/helm/setup; JSON is YAML
            with open(rest[i + 1]) as f:
                values = yaml.safe_load(f) or {}
            i += 2
        elif a == "--server-side":
            server_side = True; i += 1
        elif a == "--wait":
            wait = True; i += 1
        elif a.startswith("-"):
            sys.exit(f"unknown flag {a}")
        else:
            chart = a; i += 1
    if verb in ("install", "upgrade") and chart is None:
        sys.exit(f"{verb} needs a CHART")

    cfg = helm.Configuration(namespace=namespace, kubeconfig=kubeconfig)
    try:
        if verb == "install":
            # skip_schema_validation=False: the chart's values.schema.json is checked, as `helm install` does.
            r = asyncio.run(helm.Install(cfg).run(release, chart, values=values, create_namespace=True, wait=wait,
                                                  timeout=120, server_side_apply=server_side))
        elif verb == "upgrade":
            r = asyncio.run(helm.Upgrade(cfg).run(release, chart, values=values, wait=wait, timeout=120,
                                                  server_side_apply=server_side))
        elif verb == "uninstall":
            r = asyncio.run(helm.Uninstall(cfg).run(release, wait=True, timeout=120))
        else:
            r = asyncio.run(helm.History(cfg).run(release))
    except Exception as e:  # Helm's own error text is the finding; print it whole
        print(f"Error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(r, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
