# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mesh_info: read the cluster with a handful of concurrent LISTs and describe the mesh."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambient.mesh.plugins.module_utils._findings import (
    DATAPLANE_MODE,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    Snapshot,
    find_misconfigurations,
    is_waypoint,
    labels_of,
    route_service_parents,
    waypoint_for,
)
from ansible_collections.ambient.mesh.plugins.module_utils._gateway_api_crds import (
    GATEWAY_GROUPS,
    bundle_identity,
)
from ansible_collections.ambient.mesh.plugins.module_utils._kube import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._wait import condition_state, find_condition

# name -> (apiVersion, kind, label selector, required)
READS = {
    "namespaces": ("v1", "Namespace", None, True),
    "services": ("v1", "Service", None, True),
    "istiod": ("apps/v1", "Deployment", "app=istiod", True),
    "ztunnel": ("apps/v1", "DaemonSet", "app=ztunnel", True),
    "istio-cni": ("apps/v1", "DaemonSet", "k8s-app=istio-cni-node", True),
    "crds": ("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, True),
    "gateways": ("gateway.networking.k8s.io/v1", "Gateway", None, False),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute", None, False),
    "virtualservices": ("networking.istio.io/v1", "VirtualService", None, False),
}


def read_cluster(api, concurrency=8):
    """{name: [objects]} for every entry of READS; kinds the cluster does not serve read as []."""
    def read(name):
        api_version, kind, selector, required = READS[name]
        return api.list(api_version, kind, label_selector=selector, required=required)

    out = {}
    for name, items, error in run_concurrently(read, sorted(READS), concurrency):
        if error is not None:
            raise error
        out[name] = items
    return out


def _env(deployment, name):
    for container in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == name:
                return env.get("value")
    return None


def _image_tag(deployment):
    for container in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        image = container.get("image") or ""
        if ":" in image.rsplit("/", 1)[-1]:
            return image.rsplit(":", 1)[1]
    return None


def deployment_health(dep):
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0) or 0
    available, _cond = condition_state(dep, "Available")
    return {"name": dep["metadata"]["name"], "namespace": dep["metadata"]["namespace"], "kind": "Deployment",
            "desired": desired, "ready_count": ready, "ready": bool(available and ready >= desired)}


def daemonset_health(ds):
    status = ds.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0) or 0
    ready = status.get("numberReady", 0) or 0
    return {"name": ds["metadata"]["name"], "namespace": ds["metadata"]["namespace"], "kind": "DaemonSet",
            "desired": desired, "ready_count": ready, "ready": desired > 0 and ready >= desired}


def istio_summary(raw):
    istiods = raw["istiod"]
    if not istiods:
        return {"installed": False, "version": None, "revisions": [], "profile": None, "components": {}}
    revisions, versions, ambient = [], [], False
    for dep in istiods:
        lbl = labels_of(dep)
        revisions.append(lbl.get("istio.io/rev", "default"))
        version = lbl.get("operator.istio.io/version") or _image_tag(dep)
        if version:
            versions.append(version)
        ambient = ambient or str(_env(dep, "PILOT_ENABLE_AMBIENT")).lower() == "true"
    components = {"istiod": [deployment_health(d) for d in istiods],
                  "ztunnel": [daemonset_health(d) for d in raw["ztunnel"]],
                  "istio-cni": [daemonset_health(d) for d in raw["istio-cni"]]}
    profile = "ambient" if ambient and raw["ztunnel"] else "default"
    return {"installed": True, "version": sorted(set(versions))[-1] if versions else None,
            "versions": sorted(set(versions)), "revisions": sorted(set(revisions)), "profile": profile,
            "ambient_enabled": ambient, "components": components,
            "healthy": all(c["ready"] for group in components.values() for c in group) and bool(raw["ztunnel"])}


def gateway_api_summary(raw):
    crds = [c for c in raw["crds"] if (c.get("spec") or {}).get("group") in GATEWAY_GROUPS]
    version, channel = bundle_identity(crds)
    return {"installed": bool(crds), "version": version, "channel": channel,
            "crds": sorted(c["metadata"]["name"] for c in crds)}


def namespace_summary(raw):
    out = []
    for ns in raw["namespaces"]:
        lbl = labels_of(ns)
        keys = (DATAPLANE_MODE, USE_WAYPOINT, "istio-injection", "istio.io/rev")
        if not any(k in lbl for k in keys):
            continue
        out.append({"name": ns["metadata"]["name"], "dataplane_mode": lbl.get(DATAPLANE_MODE),
                    "ambient": lbl.get(DATAPLANE_MODE) == "ambient", "use_waypoint": lbl.get(USE_WAYPOINT),
                    "use_waypoint_namespace": lbl.get(USE_WAYPOINT_NAMESPACE),
                    "istio_injection": lbl.get("istio-injection"), "revision": lbl.get("istio.io/rev")})
    return sorted(out, key=lambda n: n["name"])


def _condition_status(conditions, cond_type):
    cond = find_condition(conditions, cond_type)
    return None if cond is None else cond.get("status") == "True"


def waypoint_summary(raw):
    out = []
    for gw in raw["gateways"]:
        if not is_waypoint(gw):
            continue
        programmed, _cond = condition_state(gw, "Programmed")
        out.append({"name": gw["metadata"]["name"], "namespace": gw["metadata"]["namespace"],
                    "waypoint_for": waypoint_for(gw), "programmed": programmed,
                    "revision": labels_of(gw).get("istio.io/rev")})
    return sorted(out, key=lambda w: (w["namespace"], w["name"]))


def route_summary(raw):
    out = []
    for route in raw["httproutes"]:
        parents = route_service_parents(route)
        if not parents:
            continue
        statuses = []
        for parent in (route.get("status") or {}).get("parents") or []:
            pref = parent.get("parentRef") or {}
            conds = parent.get("conditions") or []
            waypoints = find_condition(conds, "ResolvedWaypoints")
            statuses.append({"kind": pref.get("kind"), "name": pref.get("name"),
                             "namespace": pref.get("namespace", route["metadata"]["namespace"]),
                             "port": pref.get("port"), "accepted": _condition_status(conds, "Accepted"),
                             "resolved_refs": _condition_status(conds, "ResolvedRefs"),
                             "waypoint_message": waypoints.get("message") if waypoints else None})
        backends = []
        for rule in (route.get("spec") or {}).get("rules") or []:
            for backend in rule.get("backendRefs") or []:
                backends.append({"name": backend.get("name"), "port": backend.get("port"),
                                 "weight": backend.get("weight", 1)})
        out.append({"name": route["metadata"]["name"], "namespace": route["metadata"]["namespace"],
                    "services": ["%s/%s" % p for p in parents], "parents": statuses, "backends": backends})
    return sorted(out, key=lambda r: (r["namespace"], r["name"]))


def fault_summary(raw):
    out = []
    for vs in raw["virtualservices"]:
        for index, route in enumerate((vs.get("spec") or {}).get("http") or []):
            fault = route.get("fault")
            if not fault:
                continue
            delay, abort = fault.get("delay") or {}, fault.get("abort") or {}
            out.append({
                "name": vs["metadata"]["name"], "namespace": vs["metadata"]["namespace"],
                "hosts": (vs.get("spec") or {}).get("hosts") or [], "route": index,
                "delay": {"fixed_delay": delay.get("fixedDelay"),
                          "percentage": (delay.get("percentage") or {}).get("value")} if delay else None,
                "abort": {"http_status": abort.get("httpStatus"),
                          "percentage": (abort.get("percentage") or {}).get("value")} if abort else None,
            })
    return sorted(out, key=lambda f: (f["namespace"], f["name"], f["route"]))


def describe_mesh(api, concurrency=8):
    raw = read_cluster(api, concurrency)
    snapshot = Snapshot(namespaces=raw["namespaces"], services=raw["services"], gateways=raw["gateways"],
                        httproutes=raw["httproutes"], virtualservices=raw["virtualservices"])
    findings = find_misconfigurations(snapshot)
    return {
        "changed": False,
        "istio": istio_summary(raw),
        "gateway_api": gateway_api_summary(raw),
        "namespaces": namespace_summary(raw),
        "waypoints": waypoint_summary(raw),
        "routes": route_summary(raw),
        "fault_injections": fault_summary(raw),
        "findings": findings,
        "findings_count": len(findings),
    }
