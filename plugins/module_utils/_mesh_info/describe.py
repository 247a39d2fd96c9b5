# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mesh_info: read the cluster with a handful of concurrent LISTs and describe the mesh."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.control_planes import control_planes
from ansible_collections.ambient.mesh.plugins.module_utils._istio.fault_records import (
    CREATED_AT,
    FAULT_FOR,
    annotation,
    expiry,
    format_time,
    is_fault,
    utc_now,
)
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import service_parents
from ansible_collections.ambient.mesh.plugins.module_utils._istio import route_resilience
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import GATEWAY_GROUPS, bundle_identity
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    DATAPLANE_MODE,
    INJECTION,
    DEFAULT_VALIDATOR,
    REVISION,
    TAG,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    is_waypoint,
    waypoint_for,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of
from ansible_collections.ambient.mesh.plugins.module_utils._istio.state import ISTIO_READS, istio_summary, read_lists
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, find_condition

# name -> (apiVersion, kind, label selector, required)
READS = dict(ISTIO_READS, **{
    "namespaces": ("v1", "Namespace", None, True),
    "services": ("v1", "Service", None, True),
    "crds": ("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, True),
    "gateways": ("gateway.networking.k8s.io/v1", "Gateway", None, False),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute", None, False),
    "virtualservices": ("networking.istio.io/v1", "VirtualService", None, False),
    "deployments": ("apps/v1", "Deployment", None, True),
    "statefulsets": ("apps/v1", "StatefulSet", None, True),
    "pods": ("v1", "Pod", None, True),
    "tag_webhooks": ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", TAG, False),
    "validators": ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None, False),
})


def gateway_api_summary(raw):
    crds = [c for c in raw["crds"] if (c.get("spec") or {}).get("group") in GATEWAY_GROUPS]
    version, channel = bundle_identity(crds)
    return {"installed": bool(crds), "version": version, "channel": channel,
            "crds": sorted(c["metadata"]["name"] for c in crds)}


def namespace_summary(raw):
    out = []
    for ns in raw["namespaces"]:
        lbl = labels_of(ns)
        keys = (DATAPLANE_MODE, USE_WAYPOINT, INJECTION, REVISION)
        if not any(k in lbl for k in keys):
            continue
        out.append({"name": ns["metadata"]["name"], "dataplane_mode": lbl.get(DATAPLANE_MODE),
                    "ambient": lbl.get(DATAPLANE_MODE) == "ambient", "use_waypoint": lbl.get(USE_WAYPOINT),
                    "use_waypoint_namespace": lbl.get(USE_WAYPOINT_NAMESPACE),
                    "istio_injection": lbl.get(INJECTION), "revision": lbl.get(REVISION)})
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
                    "revision": labels_of(gw).get(REVISION)})
    return sorted(out, key=lambda w: (w["namespace"], w["name"]))


def route_summary(raw):
    out = []
    for route in raw["httproutes"]:
        parents = service_parents(route)
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
        resilience = []
        for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
            fields = dict((k, rule[k]) for k in route_resilience.RULE_FIELDS if k in rule)
            if fields:
                resilience.append(dict(route_resilience.result(fields), rule=index))
        out.append({"name": route["metadata"]["name"], "namespace": route["metadata"]["namespace"],
                    "services": ["%s/%s" % p for p in parents], "parents": statuses, "backends": backends,
                    "resilience": resilience})
    return sorted(out, key=lambda r: (r["namespace"], r["name"]))


def fault_summary(raw, now):
    out = []
    for vs in raw["virtualservices"]:
        moment = expiry(vs)
        ours = is_fault(vs)
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
                "managed": ours, "service": labels_of(vs)[FAULT_FOR] if ours else None,
                "created_at": annotation(vs, CREATED_AT) if ours else None,
                "expires_at": format_time(moment) if ours and moment else None,
                "expired": bool(ours and moment and moment <= now),
            })
    return sorted(out, key=lambda f: (f["namespace"], f["name"], f["route"]))


def describe_mesh(api, concurrency=8):
    raw = read_lists(api, READS, concurrency)
    now = utc_now()
    snapshot = Snapshot(namespaces=raw["namespaces"], services=raw["services"], gateways=raw["gateways"],
                        httproutes=raw["httproutes"], virtualservices=raw["virtualservices"],
                        workloads=raw["deployments"] + raw["statefulsets"], now=now, pods=raw["pods"],
                        planes=control_planes(raw["istiod"], raw["tag_webhooks"],
                                              [s for s in raw["services"] if TAG in labels_of(s)],
                                              [v for v in raw["validators"] if v["metadata"]["name"] == DEFAULT_VALIDATOR]))
    findings = find_misconfigurations(snapshot)
    return {
        "changed": False,
        "kubernetes_version": api.server_version().get("gitVersion"),
        "istio": istio_summary(raw),
        "gateway_api": gateway_api_summary(raw),
        "namespaces": namespace_summary(raw),
        "waypoints": waypoint_summary(raw),
        "routes": route_summary(raw),
        "fault_injections": fault_summary(raw, now),
        "findings": findings,
        "findings_count": len(findings),
    }
