"""Read-only views of the test API server's objects, as the data plane's components see them."""

from ..controllers import BOUND, selector_matches
from .messages import NotSimulated

DOMAIN = "cluster.local"  # the cluster's DNS domain (kubelet --cluster-domain; Istio's DomainSuffix default)


def labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


class View:
    """The objects of `server.objects` ((group, plural, namespace, name) -> object)."""

    def __init__(self, server):
        self.objects = server.objects

    def all(self, group, plural, namespace=None):
        return self.objects.objects(group, plural, namespace)

    def get(self, group, plural, namespace, name):
        return self.objects.get((group, plural, namespace or "", name))

    def namespace(self, name):
        return self.get("", "namespaces", "", name) or {}

    def service(self, namespace, name):
        return self.get("", "services", namespace, name)

    def service_by_ip(self, ip):
        return next((s for s in self.all("", "services") if ip in ((s.get("spec") or {}).get("clusterIPs") or [])), None)

    def pod_by_ip(self, ip):
        return next((p for p in self.all("", "pods") if (p.get("status") or {}).get("podIP") == ip), None)

    # ---- endpoints ----------------------------------------------------------------------------
    def endpoints(self, svc, port, subset_labels=None):
        """[(pod, target port)] of a Service port: the Ready pods its selector matches (what the
        EndpointSlice controller publishes and what istiod/ztunnel and kube-proxy use:
        kubernetes pkg/controller/endpointslice, podutil.IsPodReady), narrowed by a DestinationRule
        subset's labels."""
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            raise_not_simulated(f"traffic to ExternalName Service {_name(svc)}")
        if spec.get("clusterIP") == "None":
            raise_not_simulated(f"traffic to headless Service {_name(svc)}")
        selector = spec.get("selector")
        if not selector:
            raise_not_simulated(f"Service {_name(svc)} without a selector (hand-made EndpointSlices)")
        svc_port = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
        if svc_port is None:
            return None
        out = []
        for pod in self.all("", "pods", svc["metadata"]["namespace"]):
            pod_labels = labels(pod)
            if not selector_matches({"matchLabels": selector}, pod_labels) or not ready(pod):
                continue
            if subset_labels and not selector_matches({"matchLabels": subset_labels}, pod_labels):
                continue
            target = target_port(svc_port, pod)
            if target is not None:
                out.append((pod, target))
        return sorted(out, key=lambda e: e[0]["metadata"]["name"])

    # ---- the mesh ---------------------------------------------------------------------------------
    def ztunnel_ready(self):
        """ztunnel runs: its DaemonSet (the chart labels it app.kubernetes.io/name: ztunnel,
        embedded_cluster/data/istio-1.30.3/rendered/ztunnel.golden.yaml) has ready pods."""
        return any(labels(d).get("app.kubernetes.io/name") == "ztunnel"
                   and ((d.get("status") or {}).get("numberReady") or 0) > 0
                   for d in self.all("apps", "daemonsets"))

    def waypoint_for_service(self, svc):
        """The waypoint Gateway serving a Service, or None.

        The Service's istio.io/WaypointBound condition, written by the simulated istiod
        (embedded_cluster/apiserver/controllers.py, after pilot/pkg/serviceregistry/ambient/waypoints.go), is its
        decision; which waypoint it names follows the same labels: the Service's istio.io/use-waypoint
        (+ -namespace), else its namespace's; `none` opts out."""
        conds = (svc.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == BOUND and c.get("status") == "True" for c in conds):
            return None
        ns = svc["metadata"]["namespace"]
        for holder in (svc, self.namespace(ns)):
            lbl = labels(holder)
            if "istio.io/use-waypoint" in lbl:
                if lbl["istio.io/use-waypoint"] == "none":
                    return None
                return self.get("gateway.networking.k8s.io", "gateways",
                                lbl.get("istio.io/use-waypoint-namespace", ns), lbl["istio.io/use-waypoint"])
        return None

    def waypoint_service(self, gateway):
        """The Service istiod rendered for a waypoint (templates/waypoint.yaml; named as the Gateway unless
        gateway.istio.io/name-override), whose endpoints are the waypoint's pods."""
        meta = gateway["metadata"]
        name = (meta.get("annotations") or {}).get("gateway.istio.io/name-override", meta["name"])
        return self.service(meta["namespace"], name)


def ready(pod):
    """podutil.IsPodReady: the Ready condition is True (and the pod is not terminating)."""
    status = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp") or not status.get("podIP"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def target_port(svc_port, pod):
    """The Service port's targetPort on this pod: a number, a container port name (looked up in the
    pod's containers, kubernetes pkg/api/v1/pod FindPort), or the port itself when unset."""
    target = svc_port.get("targetPort", svc_port["port"])
    if isinstance(target, int):
        return target
    if str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == "TCP":
                return port["containerPort"]
    return None


def _name(obj):
    return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"


def raise_not_simulated(what):
    raise NotSimulated(what)
