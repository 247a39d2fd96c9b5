"""Objects of the lab (hello/helloworld v1+v2, httpbin, test), for the tests to build situations, and the
wait for what the simulated istiod writes back."""

import time

AMBIENT = {"istio.io/dataplane-mode": "ambient"}


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def ambient_namespace(name, waypoint=None, **labels):
    lbl = dict(AMBIENT, **labels)
    if waypoint:
        lbl["istio.io/use-waypoint"] = waypoint
    return namespace(name, **lbl)


def service(ns, name, labels=None, selector=None, port=5000):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
            "spec": {"selector": selector or {"app": name}, "ports": [{"name": "http", "port": port}]}}


def waypoint(ns, name="waypoint", waypoint_for=None, programmed=True):
    gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
          "metadata": {"name": name, "namespace": ns, "labels": {}},
          "spec": {"gatewayClassName": "istio-waypoint",
                   "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}}
    if waypoint_for:
        gw["metadata"]["labels"]["istio.io/waypoint-for"] = waypoint_for
    if programmed is not None:
        gw["status"] = {"conditions": [{"type": "Programmed", "status": "True" if programmed else "False",
                                        "reason": "Programmed" if programmed else "Pending", "message": "",
                                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}
    return gw


def split_route(ns="hello", service_name="helloworld", weights=(95, 5), port=5000, name=None):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name or service_name, "namespace": ns},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": service_name, "port": port}],
                     "rules": [{"backendRefs": [{"name": f"{service_name}-v{i + 1}", "port": port, "weight": w}
                                                for i, w in enumerate(weights)]}]}}


def split_virtualservice(ns="hello", host="helloworld", weights=(95, 5), name=None):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name or host, "namespace": ns},
            "spec": {"hosts": [host], "http": [{"route": [
                {"destination": {"host": host, "subset": f"v{i + 1}"}, "weight": w} for i, w in enumerate(weights)]}]}}


def fault_virtualservice(ns="httpbin", host="httpbin", delay="3s", delay_pct=100, abort=500, abort_pct=50):
    fault = {}
    if delay:
        fault["delay"] = {"fixedDelay": delay, "percentage": {"value": delay_pct}}
    if abort:
        fault["abort"] = {"httpStatus": abort, "percentage": {"value": abort_pct}}
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": f"{host}-faults", "namespace": ns},
            "spec": {"hosts": [host], "http": [{"fault": fault, "route": [{"destination": {"host": host}}]}]}}


def correct_lab():
    """The lab done right: waypoints, an HTTPRoute split, a fault VirtualService on another Service."""
    return [
        ambient_namespace("hello", waypoint="waypoint"),
        ambient_namespace("httpbin", waypoint="waypoint"),
        ambient_namespace("test"),
        waypoint("hello"),
        waypoint("httpbin"),
        service("hello", "helloworld"),
        service("hello", "helloworld-v1", selector={"app": "helloworld", "version": "v1"}),
        service("hello", "helloworld-v2", selector={"app": "helloworld", "version": "v2"}),
        service("httpbin", "httpbin", port=8000),
        split_route(),
        fault_virtualservice(),
    ]


def external_service(ns, name, external_name="api.example.com"):
    """A Service of type ExternalName: a DNS alias, which ambient does not implement (istiod skips it)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": {}},
            "spec": {"type": "ExternalName", "externalName": external_name}}


def istiod(revision="default", ns="istio-system"):
    """An istiod Deployment of a revision, labelled as Istio's chart labels it (istio.io/rev)."""
    name = "istiod" if revision == "default" else f"istiod-{revision}"
    labels = {"app": "istiod", "istio.io/rev": revision}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.30.3-distroless"}]}}}}


def tag_webhook(tag, revision):
    """The MutatingWebhookConfiguration `istioctl tag set <tag> --revision <revision>` makes."""
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": f"istio-revision-tag-{tag}", "labels": {"istio.io/tag": tag, "istio.io/rev": revision}},
            "webhooks": []}


def waypoint_bound(cluster, ns, name):
    """The status ("True"/"False") of the Service's istio.io/WaypointBound condition, None when absent."""
    for cond in ((cluster.get("v1", "Service", name, ns) or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == "istio.io/WaypointBound":
            return cond["status"]
    return None


def wait_bound(cluster, ns, name, timeout=15):
    """Waits until the simulated istiod has bound the Service to its waypoint."""
    deadline = time.monotonic() + timeout
    while waypoint_bound(cluster, ns, name) != "True":
        assert time.monotonic() < deadline, f"Service {ns}/{name} never bound"
        time.sleep(0.05)
