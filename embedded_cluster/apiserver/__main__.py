"""Command line: run the test API server until interrupted, with a kubeconfig for it.

    python -m embedded_cluster --kubeconfig /tmp/kubeconfig [--port 0] [--crds FILE ...]
        [--fail verb=patch,resource=namespaces,status=503,times=100 ...] [--outage AFTER:SECONDS]
        [--metrics-dir DIR] [--traffic test/curl=http://helloworld.hello:5000/hello@20 ...]
(from the repository root, or with it on PYTHONPATH; embedded_cluster/__main__.py runs this main)

Faults can also be armed while it runs: POST /debug/faults (see embedded_cluster/apiserver/faults.py).
"""

import argparse
import asyncio
import pathlib
import signal
import sys
import threading

from . import faults, prometheus
from .cluster import TestCluster
from .dataplane import traffic


def _outage(text):
    after, sep, seconds = text.partition(":")
    try:
        after, seconds = float(after), float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError("expected AFTER:SECONDS, for example 5:30") from None
    if not sep or after < 0 or seconds <= 0:
        raise argparse.ArgumentTypeError("expected AFTER:SECONDS with AFTER >= 0 and SECONDS > 0")
    return after, seconds


def _fault(text):
    try:
        return faults.parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _traffic(text):
    try:
        return traffic.parse_flag(text)
    except traffic.TrafficError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m embedded_cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for this server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--crds", nargs="*", default=[], help="CRD files to load at start")
    parser.add_argument("--kubernetes-version", default="v1.33.1")
    parser.add_argument("--fail", type=_fault, action="append", default=[], metavar="SPEC",
                        help="arm an error answer: verb=VERB[,resource=GROUP_RESOURCE][,status=503][,times=1]"
                             "[,retry_after=S][,message=TEXT] (or the same as JSON); repeatable")
    parser.add_argument("--outage", type=_outage, action="append", default=[], metavar="AFTER:SECONDS",
                        help="AFTER seconds from the start, refuse connections for SECONDS (the listener closes, "
                             "open connections drop), then listen again with the state kept; repeatable")
    parser.add_argument("--metrics-dir", metavar="DIR",
                        help="serve the simulated waypoints' Istio metrics and start a real Prometheus scraping them "
                             "(its data, log and DIR/prometheus.url in DIR) when `prometheus` is installed; without it "
                             "say so and run without")
    parser.add_argument("--traffic", type=_traffic, action="append", default=[], metavar="NS/DEPLOY=URL@RPS",
                        help="background traffic from a Deployment's pods, as its dataplane.test/traffic annotation "
                             "would declare it (embedded_cluster/apiserver/dataplane/traffic.py); repeatable")
    args = parser.parse_args(argv)

    metrics_dir = args.metrics_dir
    if metrics_dir and prometheus.binary() is None:
        print("prometheus is not installed: no metrics (Debian/Ubuntu: apt-get install prometheus; "
              "scripts/bootstrap.sh installs it)", flush=True)
        metrics_dir = None
    cluster = TestCluster(port=args.port, kubernetes_version=args.kubernetes_version, metrics_dir=metrics_dir)
    for key, entry in args.traffic:
        cluster.api.dataplane.traffic.declared_by_flag.setdefault(key, []).append(entry)
    cluster.start()
    cluster.load_crds(*args.crds)
    for spec in args.fail:
        try:
            cluster.fail(**spec)
        except (TypeError, ValueError) as exc:
            parser.error("--fail %s: %s" % (spec, exc))
    for after, seconds in args.outage:
        cluster._loop.call_soon_threadsafe(
            lambda a=after, s=seconds: cluster._loop.call_later(a, lambda: asyncio.ensure_future(
                faults.outage(cluster.api, s))))
    if cluster.prometheus_url:  # before the kubeconfig, which callers wait for
        pathlib.Path(metrics_dir, "prometheus.url").write_text(cluster.prometheus_url + "\n", encoding="utf-8")
    cluster.write_kubeconfig(args.kubeconfig)
    print(f"test API server (in-memory, simulated) listening on {cluster.url}", flush=True)
    print(f"kubeconfig written to {args.kubeconfig}", flush=True)
    if cluster.prometheus_url:
        print(f"prometheus (real, {prometheus.binary()}) scraping the simulated waypoints at {cluster.prometheus_url}",
              flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
