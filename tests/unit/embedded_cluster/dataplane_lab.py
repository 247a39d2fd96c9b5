"""Seeding for the data plane tests: the lab's objects from Istio's own samples, with Pods of the shape the
Pod controller makes (interfaces §2), put directly so that these tests do not depend on it."""

import copy
import itertools
import pathlib
import time

from embedded_cluster.apiserver.cluster import load_documents
from embedded_cluster.apiserver.dataplane import DataPlane
from embedded_cluster.apiserver.execapi import ExecResult

import builders

DATA = pathlib.Path(__file__).resolve().parents[3] / "embedded_cluster" / "data"
SAMPLES = DATA / "istio-1.30.3" / "samples"
CRDS = DATA / "crds"
_ips = itertools.count(10)


def sample(name, kind=None):
    docs = load_documents(SAMPLES / name)
    return [d for d in docs if kind is None or d["kind"] == kind]


def pod(ns, name, template, ready=True, extra_labels=None):
    """A Running pod from a pod template: its labels, annotations and containers, a unique IP, Ready."""
    n = next(_ips)
    meta = template.get("metadata") or {}
    labels = dict(meta.get("labels") or {}, **(extra_labels or {}))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": dict(meta.get("annotations") or {})},
            "spec": dict(copy.deepcopy(template["spec"]), nodeName="node-1"),
            "status": {"phase": "Running", "podIP": f"10.244.{n // 250}.{n % 250 + 2}",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": c["name"], "ready": ready, "image": c["image"]}
                                             for c in template["spec"]["containers"]]}}


def deployment_pods(cluster, ns, deployment, count=1):
    """`count` pods of a sample Deployment, named <deployment>-<hash>-<suffix>."""
    out = []
    for i in range(count):
        name = f"{deployment['metadata']['name']}-7d4b9c8f6{i % 10}-x{i:04d}"
        out.append(cluster.put(pod(ns, name, deployment["spec"]["template"])))
    return out


def in_ns(obj, ns):
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = ns
    return obj


def settle(check, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def bound(cluster, ns, name):
    svc = cluster.get("v1", "Service", name, ns) or {}
    return any(c.get("type") == "istio.io/WaypointBound" and c.get("status") == "True"
               for c in (svc.get("status") or {}).get("conditions") or [])


class Lab:
    """The lab: hello (helloworld v1/v2 + per-version Services, httpbin), test (the curl client)."""

    def __init__(self, cluster, seed=0, v1=1, v2=1, istio=True, hello_labels=None, test_labels=None):
        from conftest import GATEWAY_V151, ISTIO_CRDS, seed_istio
        self.cluster = cluster
        cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
        if istio:
            seed_istio(cluster)
        cluster.put(builders.namespace("hello", **(builders.AMBIENT if hello_labels is None else hello_labels)))
        cluster.put(builders.namespace("test", **(builders.AMBIENT if test_labels is None else test_labels)))
        for doc in sample("helloworld.yaml", "Service") + sample("helloworld-versions.yaml", "Service") \
                + sample("httpbin.yaml", "Service"):
            cluster.put(in_ns(doc, "hello"))
        deployments = {d["metadata"]["name"]: d for d in sample("helloworld.yaml", "Deployment")
                       + sample("httpbin.yaml", "Deployment")}
        self.pods = {"v1": deployment_pods(cluster, "hello", deployments["helloworld-v1"], v1),
                     "v2": deployment_pods(cluster, "hello", deployments["helloworld-v2"], v2),
                     "httpbin": deployment_pods(cluster, "hello", deployments["httpbin"])}
        client = sample("curl.yaml", "Deployment")[0]
        self.client = deployment_pods(cluster, "test", client)[0]
        if istio:
            settle(lambda: any(((d.get("status") or {}).get("numberReady") or 0) > 0
                               for d in cluster.list("apps/v1", "DaemonSet", "istio-system")), "ztunnel ready")
        self.dataplane = DataPlane(cluster.api, seed=seed)
        cluster.api.dataplane = self.dataplane

    def add_waypoint(self, ns="hello", name="waypoint", pods=1, services=("helloworld",), for_ns=None):
        """A waypoint as `istioctl waypoint apply` makes it, bound through the namespace label; the
        simulated istiod programs it; its pods are put here (labels of the rendered Deployment). With for_ns
        the waypoint serves the Services of that namespace (istio.io/use-waypoint-namespace on it; the
        waypoint's HBONE listener allows routes from All namespaces)."""
        for_ns = for_ns or ns
        gateway = builders.waypoint(ns, name, programmed=None)
        if for_ns != ns:  # attachment from another namespace needs allowedRoutes (waypoints.go makeAllowedRoutes)
            self.cluster.put(builders.namespace(ns))
            gateway["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
        self.cluster.put(gateway)
        settle(lambda: self.cluster.get("apps/v1", "Deployment", name, ns) is not None, "waypoint Deployment")
        dep = self.cluster.get("apps/v1", "Deployment", name, ns)
        try:  # the Pod controller, where it runs, makes the waypoint's pods; else they are put here
            settle(lambda: self.waypoint_pods(ns, name), "waypoint pods from the Pod controller", timeout=1.0)
        except AssertionError:
            for i in range(pods):
                self.cluster.put(pod(ns, f"{name}-5f7c9d-w{i:04d}", dep["spec"]["template"]))
        labels = dict(builders.AMBIENT, **{"istio.io/use-waypoint": name})
        if for_ns != ns:
            labels["istio.io/use-waypoint-namespace"] = ns
        self.cluster.put(builders.namespace(for_ns, **labels))
        for svc in services:
            settle(lambda svc=svc: bound(self.cluster, for_ns, svc), f"{for_ns}/{svc} bound to its waypoint")

    def waypoint_pods(self, ns, name="waypoint"):
        return [p for p in self.cluster.list("v1", "Pod", ns)
                if p["metadata"]["labels"].get("gateway.networking.k8s.io/gateway-name") == name]

    def scale_waypoint_to_zero(self, ns="hello", name="waypoint"):
        dep = self.cluster.get("apps/v1", "Deployment", name, ns)
        dep["spec"]["replicas"] = 0
        self.cluster.put(dep, manager="kubectl")
        for p in self.waypoint_pods(ns, name):
            self.cluster.delete("v1", "Pod", p["metadata"]["name"], ns)
        settle(lambda: not self.waypoint_pods(ns, name), "no waypoint pods")

    def curl(self, *args, pod=None):
        """Runs curl in the client pod as the exec handler does (on the server's loop: no race with it)."""
        pod = pod or self.client
        stored = self.cluster.get("v1", "Pod", pod["metadata"]["name"], pod["metadata"]["namespace"])
        result = self.cluster._call(self.dataplane.run, stored, stored["spec"]["containers"][0]["name"],
                                    ["curl", *args])
        assert isinstance(result, ExecResult)
        return result

    def created(self, api_version, kind, ns, name, stamp):
        """Sets an object's creationTimestamp, for tests of creation order (the API server sets it to the
        second of creation, too coarse for objects a test makes in one go)."""
        res = self.cluster.api.catalog.by_kind(api_version, kind)

        def set_():
            self.cluster.api.objects[self.cluster.api._key(res, ns, name)]["metadata"]["creationTimestamp"] = stamp
        self.cluster._call(set_)
