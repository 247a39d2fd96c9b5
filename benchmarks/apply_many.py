"""Benchmark: apply N objects in one call, then re-apply them (the no-op run).

Starts the test API server as a separate process (so client and server do not share a GIL),
applies N ConfigMaps through the collection's batch apply, and prints one JSON line:

  {"benchmark": "apply_many", "objects": N, "concurrency": C,
   "first_run_s": ..., "noop_run_s": ..., "requests_first": ..., "requests_noop": ...,
   "writes_first": ..., "writes_noop": ...}

Request and write counts come from the server's own log. Usage (from the repository root):

  .venv/bin/python benchmarks/apply_many.py --objects 200 --concurrency 8
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".cache" / "collections"))
sys.path.insert(0, str(ROOT / "tests"))

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects  # noqa: E402
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi  # noqa: E402
from standins import ModuleStandIn  # noqa: E402


def server_log_count(url):
    """(requests, writes) the server has seen, read through the debug endpoint of the CLI."""
    with urllib.request.urlopen(url + "/debug/requests") as resp:
        doc = json.loads(resp.read())
    return doc["requests"], doc["writes"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    workdir = pathlib.Path(tempfile.mkdtemp())
    kubeconfig = workdir / "kubeconfig"
    server = subprocess.Popen([sys.executable, "-m", "embedded_cluster", "--kubeconfig", str(kubeconfig)],
                              cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        while not kubeconfig.exists():
            time.sleep(0.05)
        time.sleep(0.1)
        import yaml
        url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cm-%04d" % i, "namespace": "default", "labels": {"bench": "yes"}},
                    "data": {"index": str(i)}} for i in range(args.objects)]
        api = KubeApi(ModuleStandIn(str(kubeconfig)), budget_seconds=120)
        r0, w0 = server_log_count(url)
        start = time.perf_counter()
        apply_objects(api, objects, concurrency=args.concurrency)
        first = time.perf_counter() - start
        r1, w1 = server_log_count(url)
        start = time.perf_counter()
        results = apply_objects(api, objects, concurrency=args.concurrency)
        noop = time.perf_counter() - start
        r2, w2 = server_log_count(url)
        assert not any(r["changed"] for r in results)
        print(json.dumps({"benchmark": "apply_many", "objects": args.objects, "concurrency": args.concurrency,
                          "first_run_s": round(first, 3), "noop_run_s": round(noop, 3),
                          "requests_first": r1 - r0, "requests_noop": r2 - r1,
                          "writes_first": w1 - w0, "writes_noop": w2 - w1}))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
