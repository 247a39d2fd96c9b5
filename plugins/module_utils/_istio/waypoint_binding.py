# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which waypoint serves a Service, once: the istio.io/use-waypoint label on the Service, else on its
namespace (pilot/pkg/serviceregistry/ambient/waypoints.go, fetchWaypointForService: the Service's own
label wins, "none" opts out), istio.io/use-waypoint-namespace naming where the waypoint lives, and
istiod's istio.io/WaypointBound condition on the Service as the proof that it took effect."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    SERVES,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    waypoint_for,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of, object_ref, ref_of
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, describe

BOUND = "istio.io/WaypointBound"
# The reasons istiod gives for WaypointBound=False, and what fixes each.
BOUND_FIXES = {
    "WaypointIsNotReady": "the waypoint is missing or not Programmed yet: check its Deployment and that istiod runs",
    "AttachmentDenied": "the waypoint does not accept bindings from this namespace: set allowed_namespaces: all "
                        "on the waypoint",
    "UnsupportedTrafficType": "the waypoint's istio.io/waypoint-for does not include service traffic: use for: "
                              "service or all",
}


def bound_to(holder, own_namespace):
    """(waypoint namespace, waypoint name) that an object's use-waypoint label names, or None without one.
    `own_namespace` is where the label points when use-waypoint-namespace is absent: the Service's
    namespace, or the namespace itself."""
    lbl = labels_of(holder)
    if USE_WAYPOINT not in lbl:
        return None
    return (lbl.get(USE_WAYPOINT_NAMESPACE, own_namespace), lbl[USE_WAYPOINT])


def binding_holder(service, namespace):
    """The object whose use-waypoint label decides for a Service: the Service, else its namespace, else None."""
    for holder in (service, namespace or {}):
        if USE_WAYPOINT in labels_of(holder):
            return holder
    return None


def service_binding(service, namespace):
    """(waypoint namespace, waypoint name, the object carrying the label) that a Service asks for, or None
    when neither it nor its namespace names one, or it opts out with "none"."""
    holder = binding_holder(service, namespace)
    if holder is None or labels_of(holder)[USE_WAYPOINT] == "none":
        return None
    wp_ns, wp_name = bound_to(holder, service["metadata"]["namespace"])
    return wp_ns, wp_name, holder


def waypoint_namespace(service, namespace):
    """The namespace of the waypoint a Service uses, else the Service's own (the two namespaces whose
    routes a waypoint reads: listener_waypoint.go getVirtualServiceForWaypoint)."""
    bound = service_binding(service, namespace)
    return bound[0] if bound else service["metadata"]["namespace"]


def bound_problem(service):
    """Why istiod has not bound the Service to a waypoint (WaypointBound is not True), with the fix when the
    reason has one; None when it is bound."""
    met, cond = condition_state(service or {}, BOUND)
    if met:
        return None
    text = describe(cond)
    if cond is not None and cond.get("reason") in BOUND_FIXES:
        return text + " - fix: " + BOUND_FIXES[cond["reason"]]
    if cond is None:
        return text + " - istiod has not reported it; is istiod running?"
    return text


def serving_problem(service, namespace, gateways=None):
    """Why no waypoint serves a Service's traffic, as (what is wrong, what to do), or None when one does.
    With `gateways` ((namespace, name) -> waypoint Gateway), the label's waypoint is checked to exist, take
    service traffic and be Programmed before istiod's WaypointBound; without, WaypointBound alone decides
    (it is the proof; the labels only explain its absence)."""
    meta = service["metadata"]
    ref = ref_of("Service", meta["namespace"], meta["name"])
    if gateways is None and condition_state(service, BOUND)[0]:
        return None
    holder = binding_holder(service, namespace)
    if holder is None:
        return ("no waypoint serves %s (no %s label on it or on namespace %s)" % (ref, USE_WAYPOINT, meta["namespace"]),
                "deploy and bind one first, for example ambient.mesh.waypoint with waypoints: [{namespace: %s, "
                "enroll_namespace: true}] (or the ambient.mesh.waypoint role)" % meta["namespace"])
    if labels_of(holder)[USE_WAYPOINT] == "none":
        return ("%s opts out of waypoints (%s=none on %s)" % (ref, USE_WAYPOINT, object_ref(holder)),
                "remove the opt-out")
    key = bound_to(holder, meta["namespace"])
    if gateways is not None:
        gateway = gateways.get(key)
        if gateway is None:
            return ("%s uses waypoint %s/%s, which does not exist" % (ref, key[0], key[1]),
                    "deploy it with ambient.mesh.waypoint")
        if waypoint_for(gateway) not in SERVES["Service"]:
            return ("%s uses waypoint %s/%s, which is for %s traffic only" % (ref, key[0], key[1], waypoint_for(gateway)),
                    "use a waypoint for service or all")
        met, cond = condition_state(gateway, "Programmed")
        if not met:
            return ("waypoint %s/%s of %s is not Programmed (%s)" % (key[0], key[1], ref, describe(cond)),
                    "check its Deployment")
    met, cond = condition_state(service, BOUND)
    if met:
        return None
    fix = "is istiod running?"
    if cond is not None and cond.get("reason") in BOUND_FIXES:
        fix = BOUND_FIXES[cond["reason"]]
    return ("%s is not bound to waypoint %s/%s (%s)" % (ref, key[0], key[1], describe(cond)), fix)
