#!/usr/bin/env python3
"""Validates Kubernetes objects with the PyPI package kubernetes-validate: the real OpenAPI schemas of every
Kubernetes version from 1.25 on, as strict JSON schemas (unknown fields are errors, as kube-apiserver's
fieldValidation=Strict makes them). Tests/MeshformKitTests/CompiledObjectsValidateTests.swift feeds it every object
the compiler emits (issue 11).

    validate-objects.py < objects.jsonl

Each input line: {"id": "...", "versions": ["1.28", ...], "object": {...}}. Output, one JSON document:
{"validated": N, "skipped": {"KIND apiVersion": count}, "failures": [{"id", "version", "message", "path"}]}.
A kind without a schema (custom resources such as Istio's) is skipped and counted, never passed silently.
Needs: pip install kubernetes-validate (.ci/run installs it).
"""
import json
import sys

import kubernetes_validate
from kubernetes_validate import utils


def main():
    validated, skipped, failures = 0, {}, []
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        obj = item["object"]
        for version in item["versions"]:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                validated += 1
            except utils.SchemaNotFoundError:
                key = f'{obj.get("kind")} {obj.get("apiVersion")}'
                skipped[key] = skipped.get(key, 0) + 1
            except utils.ValidationError as e:
                failures.append({"id": item["id"], "version": version, "message": e.message,
                                 "path": "/".join(str(p) for p in e.absolute_path)})
    json.dump({"validated": validated, "skipped": skipped, "failures": failures,
               "schemas": utils.all_versions()[0] + ".." + utils.latest_version()}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
