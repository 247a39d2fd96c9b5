"""The simulated data plane of the test cluster: what runs in the containers (curl in the client, the
lab's apps by image) and how Istio ambient carries their traffic, from the objects in the API server.

Contract (embedded_cluster/apiserver/execapi.py, /tmp interfaces §3): DataPlane(server, seed=0); run(pod, container,
argv) -> ExecResult or ExecutableNotFound; reseed(seed). All randomness comes from one random.Random; time
is simulated (a request's time includes fault delays and /delay/<s>; nothing sleeps).

Files, one concern each: curl.py (the command line), dns.py (names), network.py (the path of a
connection: ztunnel, waypoint, kube-proxy), routing.py (the waypoint's routes), resilience.py (a route's timeout
and retry policy), apps.py (the apps by image), cluster.py (reading the objects), messages.py (requests,
responses, failures), telemetry.py (Istio's metrics the proxies report),
traffic.py (background traffic a Deployment declares), exposition.py (the metrics served for Prometheus).
"""

import asyncio
import random
import time

from ..execapi import ExecResult, ExecutableNotFound
from . import apps, curl
from .cluster import View
from .messages import NotSimulated
from .exposition import Exposition
from .network import Network
from .telemetry import Telemetry
from .traffic import BackgroundTraffic

__all__ = ["DataPlane", "NotSimulated"]

# Simulated costs (seconds): fixed small bases with seeded jitter. They stand for a pod network's
# sub-millisecond hops; no upstream file fixes them, and no verdict depends on their exact values.
LOOKUP = (0.0002, 0.0006)
CONNECT = (0.0002, 0.0006)
REQUEST = (0.001, 0.003)
PROXY = (0.0003, 0.001)
SYNC_INTERVAL = 0.5  # seconds between looks at the pods whose metrics are served


class DataPlane:
    def __init__(self, server, seed=0):
        self.server = server
        self.view = View(server)
        self.network = Network(self)
        self.telemetry = Telemetry()  # Istio's metrics of the simulated proxies (telemetry.py)
        self.traffic = BackgroundTraffic(self, seed)  # what Deployments send by themselves (traffic.py)
        self.exposition = None  # the metrics served for Prometheus (exposition.py), once expose() ran
        self._sync_task = None
        self.rng = random.Random(seed)
        self.clock = 0.0
        self.epoch = time.time()  # only for Date headers; durations come from self.clock

    def expose(self, targets_file):
        """Serve each simulated proxy's metrics on 127.0.0.1 and keep Prometheus's file_sd targets in targets_file
        (on the server's loop: pods come and go)."""

        self.exposition = Exposition(self, targets_file)
        self.exposition.sync()

        async def sync():
            while True:
                await asyncio.sleep(SYNC_INTERVAL)
                self.exposition.sync()
        self._sync_task = asyncio.get_running_loop().create_task(sync())

    async def close(self):
        await self.traffic.stop()
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
        if self.exposition is not None:
            self.exposition.close()

    def reseed(self, seed):
        self.rng.seed(seed)

    def now(self):
        return self.epoch + self.clock

    def advance(self, seconds):
        self.clock += seconds

    def lookup_time(self, host):
        return 0.0 if host[:1].isdigit() or host.startswith("[") else self.rng.uniform(*LOOKUP)

    def connect_time(self):
        return self.rng.uniform(*CONNECT)

    def latency(self, proxy=False):
        return self.rng.uniform(*(PROXY if proxy else REQUEST))

    def run(self, pod, container_name, argv):
        containers = (pod.get("spec") or {}).get("containers") or []
        container = next((c for c in containers if c.get("name") == container_name), None)
        if container is None or not argv:
            raise ExecutableNotFound(argv[0] if argv else "")
        image = container.get("image") or ""
        if apps.has_curl(image) and argv[0] in ("curl", "/usr/bin/curl"):
            stdout, stderr, code = curl.run(self, pod, image, argv)
            return ExecResult(stdout, stderr, code)
        raise ExecutableNotFound(argv[0])
