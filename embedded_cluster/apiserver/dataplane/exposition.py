"""The simulated proxies' metrics, served for a real Prometheus to scrape.

Every pod the simulation runs a proxy for (a waypoint's; no DaemonSet pod, so no ztunnel, runs here) that asks to
be scraped as the
upstream pod templates do (`prometheus.io/scrape: "true"`, `prometheus.io/port`, `prometheus.io/path`:
templates/waypoint.yaml says /stats/prometheus on 15020)
gets its own HTTP endpoint on 127.0.0.1 (prometheus_client's exposition of its registry, telemetry.py), and a
file_sd target for Prometheus with the labels Istio's sample Prometheus gives a pod through Kubernetes service
discovery (samples/addons/prometheus.yaml, job kubernetes-pods: namespace, pod and the pod's labels by
labelmap). The pod's own port stays in the `container_port` label; the address Prometheus scrapes is the local
one. Pods that ask to be scraped but run nothing simulated here (istiod) get no target.

`sync()` runs on the API server's loop: new pods get an endpoint, deleted pods lose theirs (and their metrics,
as a restarted proxy starts from zero), and the targets file is rewritten atomically when it changes.
"""

import json
import os
import re

from prometheus_client import start_http_server

from .cluster import labels
from .telemetry import WaypointMetrics

SCRAPE = "prometheus.io/scrape"
WAYPOINT_LABEL = "gateway.networking.k8s.io/gateway-name"


def proxy_kind(pod):
    """Which simulated proxy runs in the pod: "waypoint" (templates/waypoint.yaml labels: the gateway's name, and
    gateway.istio.io/managed istio.io-mesh-controller) or None."""
    lbl = labels(pod)
    if WAYPOINT_LABEL in lbl and lbl.get("gateway.istio.io/managed") == "istio.io-mesh-controller":
        return "waypoint"
    return None


def _label_name(name):
    """Prometheus's labelmap of __meta_kubernetes_pod_label_<name>: the name with invalid characters as _."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


class Exposition:
    def __init__(self, dataplane, targets_file):
        self.dp = dataplane
        self.targets_file = targets_file
        os.makedirs(os.path.dirname(targets_file) or ".", exist_ok=True)
        self.servers = {}  # (namespace, pod) -> (http server, thread, target)
        self._written = None

    def sync(self):
        live = {}
        for pod in self.dp.view.all("", "pods"):
            meta = pod["metadata"]
            annotations = meta.get("annotations") or {}
            kind = proxy_kind(pod)
            if kind is None or annotations.get(SCRAPE) != "true" or meta.get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            live[(meta["namespace"], meta["name"])] = (pod, kind)
        for key in set(self.servers) - set(live):
            server, thread, _target = self.servers.pop(key)
            server.shutdown()
            server.server_close()
            self.dp.telemetry.forget(*key)
        for key, (pod, _kind) in live.items():
            if key not in self.servers:
                metrics = self.dp.telemetry.proxy(pod, WaypointMetrics)
                server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
                self.servers[key] = (server, thread, self._target(pod, server.server_port))
        self._write()

    def _target(self, pod, port):
        annotations = pod["metadata"].get("annotations") or {}
        target_labels = {_label_name(k): v for k, v in labels(pod).items()}
        target_labels.update({
            "namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"],
            "container_port": annotations.get("prometheus.io/port", ""),
            "__metrics_path__": annotations.get("prometheus.io/path", "/metrics"),
        })
        return {"targets": [f"127.0.0.1:{port}"], "labels": target_labels}

    def _write(self):
        targets = [entry[2] for _key, entry in sorted(self.servers.items())]
        text = json.dumps(targets, indent=1, sort_keys=True)
        if text == self._written:
            return
        tmp = self.targets_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.targets_file)  # Prometheus's file_sd reads whole files only
        self._written = text

    def close(self):
        for server, _thread, _target in self.servers.values():
            server.shutdown()
            server.server_close()
        self.servers.clear()
