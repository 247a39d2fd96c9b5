"""Command line: run the test API server until interrupted, with a kubeconfig for it.

    python -m apiserver --kubeconfig /tmp/kubeconfig [--port 0] [--crds FILE ...]
(with tests/ on PYTHONPATH)
"""

import argparse
import signal
import sys
import threading

from .cluster import TestCluster


def main(argv=None):
    parser = argparse.ArgumentParser(prog="apiserver", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for this server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--crds", nargs="*", default=[], help="CRD files to load at start")
    parser.add_argument("--kubernetes-version", default="v1.33.1")
    args = parser.parse_args(argv)

    cluster = TestCluster(port=args.port, kubernetes_version=args.kubernetes_version).start()
    cluster.load_crds(*args.crds)
    cluster.write_kubeconfig(args.kubeconfig)
    print(f"test API server (in-memory, simulated) listening on {cluster.url}", flush=True)
    print(f"kubeconfig written to {args.kubeconfig}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
