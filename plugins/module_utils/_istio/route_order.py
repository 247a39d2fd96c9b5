# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The order in which a waypoint concatenates the routes of the VirtualServices and HTTPRoutes for a Service
(Istio 1.30.3): which one's rules take a request first. Used by mesh_info's findings, fault_injection's
refusals and traffic_split's conflicts alike."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import DOMAIN


def creation_order(obj):
    """Istio's order for configs of one kind: oldest first, then by name (model/config.go sortConfigByCreationTime)."""
    meta = obj.get("metadata") or {}
    return (meta.get("creationTimestamp") or "", meta.get("namespace") or "", meta.get("name") or "")


def _route_port(route, service_key):
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("kind") == "Service" and ref.get("group", "") in ("", "core") and ref.get("name") == service_key[1] \
                and ref.get("namespace", route["metadata"]["namespace"]) == service_key[0]:
            return ref.get("port")
    return None


def _waypoint_list(obj, waypoint_ns):
    """(list, gateway-exact) of a config in the VirtualServices a waypoint of waypoint_ns merges, or None when it
    sees none of it (Istio 1.30.3 pilot/pkg/model/push_context.go initVirtualServices, VirtualServicesForGateway):
    0 private to the waypoint's namespace (exportTo "." or that namespace), 1 exported to it by another
    namespace, 2 public (exportTo "*", the default); among the public ones the HTTPRoutes (gateway semantics)
    of the waypoint's namespace first (0), then every other (1)."""
    ns = obj["metadata"]["namespace"]
    if obj.get("kind") == "HTTPRoute":  # route_collections.go: a public VirtualService with gateway semantics
        return (2, 0 if ns == waypoint_ns else 1)
    export_to = (obj.get("spec") or {}).get("exportTo") or ["*"]
    if "*" in export_to:
        return (2, 1)
    if "~" in export_to:
        return None
    if ns == waypoint_ns and ("." in export_to or ns in export_to):
        return (0, 1)
    if waypoint_ns in export_to and waypoint_ns != ns:
        return (1, 1)
    return None


def waypoint_order(objects, service_key, waypoint_ns):
    """The VirtualServices and HTTPRoutes for a Service in the order a waypoint in waypoint_ns concatenates their
    routes - the first one's rules take the requests they match (Istio 1.30.3 push_context.go
    VirtualServicesForGateway via sidecar.go DefaultSidecarScopeForGateway, kept by listener_waypoint.go
    getVirtualServiceForWaypoint); the configs it does not see are left out. Within a list, the
    VirtualServices' creation order (model/config.go sortConfigByCreationTime: time, name, namespace); the
    HTTPRoutes of one namespace and parent port are one VirtualService (route_collections.go mergeHTTPRoutes)
    named <namespace>~[<port>~]<host>, with the oldest one's creation time, its routes oldest first."""
    host = "%s.%s.svc.%s" % (service_key[1], service_key[0], DOMAIN)
    merged = {}
    for obj in objects:
        if obj.get("kind") == "HTTPRoute":
            port = _route_port(obj, service_key)
            name = "~".join([obj["metadata"]["namespace"]] + ([str(port)] if port is not None else []) + [host])
            merged.setdefault(name, []).append(obj)
    keyed = []
    for obj in objects:
        place = _waypoint_list(obj, waypoint_ns)
        if place is None:
            continue
        meta = obj["metadata"]
        name = meta["name"]
        created = meta.get("creationTimestamp") or ""
        if obj.get("kind") == "HTTPRoute":
            name = next(k for k, group in merged.items() if any(o is obj for o in group))
            created = min(o["metadata"].get("creationTimestamp") or "" for o in merged[name])
        keyed.append((place + (created, name, meta["namespace"]) + creation_order(obj), obj))
    return [obj for _key, obj in sorted(keyed, key=lambda k: k[0])]
