"""Run the test API server in a background thread, seed it, and count its requests."""

import asyncio
import copy
import functools
import os
import pathlib
import threading

import yaml
from kmock import Server

from .prometheus import Prometheus
from .server import ApiServer

CRDS = pathlib.Path(__file__).resolve().parents[1] / "data" / "crds"  # embedded_cluster/data/crds


@functools.lru_cache(maxsize=16)
def _parsed(path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        return tuple(d for d in yaml.load_all(handle, Loader=loader) if d)


def load_documents(path):
    """The YAML documents of a file (parsed once per process; each call gets fresh copies)."""
    return copy.deepcopy(list(_parsed(str(path))))


class TestCluster:
    """An in-memory cluster on 127.0.0.1: start(), kubeconfig, seed objects, count requests."""

    __test__ = False  # not a pytest test class

    def __init__(self, port=0, kubernetes_version="v1.33.1", seed=0, metrics_dir=None):
        # seed: the simulated data plane's randomness (embedded_cluster/apiserver/dataplane); reseed with seed_traffic()
        self.api = ApiServer(kubernetes_version=kubernetes_version, seed=seed)
        # metrics_dir: serve the simulated proxies' metrics and start a real Prometheus scraping them (its data and
        # log in that folder); prometheus_url is its URL (None without metrics_dir)
        self.metrics_dir = metrics_dir
        self.prometheus = None
        self.prometheus_url = None
        self._port = port
        self._loop = None
        self._thread = None
        self._stop = None
        self.url = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self):
        ready = threading.Event()
        failure = []

        async def serve():
            self._stop = asyncio.Event()
            try:
                async with self.api, Server(self.api, host="127.0.0.1", port=self._port or None) as server:
                    self.url = f"http://127.0.0.1:{server.port}"
                    dataplane = self.api.dataplane  # a test may swap in its own later; this one's tasks end here
                    dataplane.traffic.start()
                    if self.metrics_dir:
                        dataplane.expose(os.path.join(self.metrics_dir, "targets.json"))
                    ready.set()
                    await self._stop.wait()
                    await dataplane.close()
            except Exception as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="test-apiserver", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        self.seed_namespace("default")
        self.seed_namespace("kube-system")
        if self.metrics_dir:
            self.prometheus = Prometheus(os.path.join(self.metrics_dir, "prometheus"),
                                         os.path.join(self.metrics_dir, "targets.json"))
            try:
                self.prometheus_url = self.prometheus.start().url
            except Exception:
                self.stop()
                raise
        return self

    def traffic(self):
        """What the background traffic sent so far (dataplane/traffic.py summary)."""
        return self._call(self.api.dataplane.traffic.summary)

    def seed_traffic(self, seed):
        """Restart the simulated data plane's random picks from this seed."""
        self.api.dataplane.reseed(seed)

    def stop(self):
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def kubeconfig(self, context="test"):
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "test", "user": "test"}}],
            "current-context": context,
        }

    def write_kubeconfig(self, path):
        pathlib.Path(path).write_text(yaml.safe_dump(self.kubeconfig()), encoding="utf-8")
        return str(path)

    # ---- direct access (runs on the server's loop, so it never races a request) ------
    def _call(self, func, *args, **kwargs):
        async def call():
            return func(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)

    def put(self, obj, manager="test-seed", subresource=None):
        """Create or replace an object as a client would (validated, versioned, owned)."""
        def put():
            api_version, kind = obj["apiVersion"], obj["kind"]
            res = self.api.catalog.by_kind(api_version, kind)
            if res is None:
                raise LookupError(f"{api_version} {kind} is not served")
            meta = obj.get("metadata", {})
            key = self.api._key(res, meta.get("namespace"), meta["name"])
            old = self.api.objects.get(key)
            if "status" in obj and res.kind in self.api.workloads.KINDS:
                # a seeded status stands: the simulated controller leaves this workload alone
                self.api.workloads.delays[(res.kind, meta.get("namespace"), meta["name"])] = None
            if subresource == "status":
                return self.api._write(res, meta.get("namespace"), meta["name"], old, obj, manager=manager,
                                       apply=False, sub="status", dry_run=False)
            new = self.api._write(res, meta.get("namespace"), meta["name"], old, obj, manager=manager,
                                  apply=False, sub=None, dry_run=False)
            if "status" in obj and res.status_subresource:
                new = self.api._write(res, meta.get("namespace"), meta["name"], new, obj, manager=manager,
                                      apply=False, sub="status", dry_run=False)
            return new
        return copy.deepcopy(self._call(put))

    def get(self, api_version, kind, name, namespace=None):
        def get():
            res = self.api.catalog.by_kind(api_version, kind)
            if res is None:
                return None
            return copy.deepcopy(self.api.objects.get(self.api._key(res, namespace, name)))
        return self._call(get)

    def list(self, api_version, kind, namespace=None):
        def list_():
            res = self.api.catalog.by_kind(api_version, kind)
            return copy.deepcopy(self.api.select(res, namespace, {})) if res else []
        return self._call(list_)

    def pods(self, namespace, selector=None):
        """The Pods of a namespace (those the simulated controllers made, and any put), by name; `selector` is
        a label selector string as kubectl takes it ("app=helloworld,version in (v1)")."""
        def pods():
            res = self.api.catalog.by_kind("v1", "Pod")
            return copy.deepcopy(self.api.select(res, namespace, {"labelSelector": selector} if selector else {}))
        return self._call(pods)

    def delete(self, api_version, kind, name, namespace=None):
        def delete():
            res = self.api.catalog.by_kind(api_version, kind)
            self.api._remove(res, self.api._key(res, namespace, name))
        self._call(delete)

    def seed_namespace(self, name, labels=None):
        return self.put({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": name, "labels": dict(labels or {})}})

    def load_crds(self, *files):
        for path in files:
            for doc in load_documents(path):
                if doc.get("kind") == "CustomResourceDefinition":
                    self.put(doc, manager="test-seed")

    def set_readiness(self, kind, namespace, name, delay):
        """Make a workload ready `delay` seconds after each change (None: never ready)."""
        def set_():
            self.api.workloads.delays[(kind, namespace, name)] = delay
        self._call(set_)

    def set_termination_delay(self, seconds, kind=None):
        """Workloads (of `kind`, or any) deleted in the foreground, as istioctl uninstall deletes them,
        stay with a deletionTimestamp for `seconds` while their pods terminate; 0: they go at once."""
        def set_():
            self.api.termination_delays[kind] = float(seconds)
        self._call(set_)

    def fail(self, *args, **kwargs):
        self._call(self.api.fail, *args, **kwargs)

    # ---- the request log ---------------------------------------------------------------
    def mark(self):
        """A position in the request log; requests(since=mark) counts only what came after."""
        return len(self.api.log)

    def requests(self, since=0, verb=None, resource=None, include_discovery=False):
        out = []
        for entry in list(self.api.log)[since:]:
            if entry["verb"] == "discovery" and not include_discovery:
                continue
            if verb is not None and entry["verb"] not in ((verb,) if isinstance(verb, str) else verb):
                continue
            if resource is not None and entry["resource"] != resource:
                continue
            out.append(entry)
        return out

    def writes(self, since=0, resource=None):
        return [e for e in self.requests(since, ("create", "update", "patch", "delete", "deletecollection"),
                                         resource) if not e["dry_run"]]
