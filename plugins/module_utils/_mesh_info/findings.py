# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Known ambient misconfigurations, found in a snapshot of the cluster (pure functions)."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.control_planes import (
    describe_planes,
    serving_revisions,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_match import virtualservice_route_overlap
from ansible_collections.ambient.mesh.plugins.module_utils._istio.fault_records import (
    CREATED_AT,
    FAULT_FOR,
    annotation,
    expiry,
    format_time,
    is_fault,
    utc_now,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import service_parents
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_resilience import non_idempotent_matches, retried_statuses
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import service_for_host, vs_applies_to_mesh
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_order import waypoint_order
from ansible_collections.ambient.mesh.plugins.module_utils._istio.waypoint_binding import service_binding
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    DATAPLANE_MODE,
    GATEWAY_MANAGED,
    INJECTION,
    REVISION,
    SERVES,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    WAYPOINT_FOR,
    is_waypoint,
    waypoint_for,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of, object_ref

# The collection's record of a namespace whose workloads must still be restarted for its capture to change
# (written by ambient.mesh.ambient_namespace, removed once they were restarted).
RESTART_PENDING_ANNOTATION = "ambient.mesh/restart-pending"
# What istio-cni writes on a pod once its traffic is redirected to ztunnel, and what sidecar injection
# writes on a pod it injected (Istio 1.30.3 cni/pkg/util/podutil.go: PodFullyEnrolled, podHasSidecar).
REDIRECTION = "ambient.istio.io/redirection"
SIDECAR_STATUS = "sidecar.istio.io/status"


class Snapshot(object):
    """Indexes over the objects read from the cluster."""

    def __init__(self, namespaces=(), services=(), gateways=(), httproutes=(), virtualservices=(), workloads=None,
                 now=None, pods=None, planes=None):
        # the time expiries are judged against (a datetime in UTC); the clock when not given
        self.now = now or utc_now()
        self.namespaces = dict((n["metadata"]["name"], n) for n in namespaces)
        self.services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in services)
        self.waypoints = dict(((g["metadata"]["namespace"], g["metadata"]["name"]), g)
                              for g in gateways if is_waypoint(g))
        self.httproutes = list(httproutes)
        # None when not read: the findings that need them are then not looked for
        self.pods = None if pods is None else list(pods)
        self.planes = planes  # _control_planes.control_planes(...)
        self.virtualservices = list(virtualservices)
        # pod templates per namespace, of the Deployments and StatefulSets that are apps (not istiod's
        # waypoints and gateways); None when the workloads were not read
        self.templates = None
        if workloads is not None:
            self.templates = {}
            for workload in workloads:
                if GATEWAY_MANAGED in labels_of(workload):
                    continue
                template = ((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}
                self.templates.setdefault(workload["metadata"]["namespace"], []).append(template.get("labels") or {})

    def ambient(self, namespace):
        return labels_of(self.namespaces.get(namespace, {})).get(DATAPLANE_MODE) == "ambient"

    def binding(self, service):
        """(waypoint namespace, waypoint name, the object carrying the label) or None for a Service."""
        return service_binding(service, self.namespaces.get(service["metadata"]["namespace"]))

    def serving_waypoint(self, service):
        """The waypoint Gateway that serves a Service's traffic, or None."""
        bound = self.binding(service)
        if bound is None:
            return None
        gateway = self.waypoints.get((bound[0], bound[1]))
        if gateway is None or waypoint_for(gateway) not in SERVES["Service"]:
            return None
        return gateway


def _finding(code, severity, obj, message, fix):
    return {"code": code, "severity": severity, "object": object_ref(obj) if isinstance(obj, dict) else obj,
            "message": message, "fix": fix}


def vs_is_split(vs):
    """True when a VirtualService routes by weight or by subset (which needs L7)."""
    for route in (vs.get("spec") or {}).get("http") or []:
        destinations = route.get("route") or []
        if len(destinations) > 1 or any((d.get("destination") or {}).get("subset") for d in destinations):
            return True
    return False


# What istiod writes in an HTTPRoute's ResolvedWaypoints condition, which is always True: only the
# message tells (Istio 1.30.3 pilot/pkg/config/kube/gateway/conditions.go:177 and :272-274). It checks
# the use-waypoint label only, not that the waypoint exists.
RESOLVED_WAYPOINTS_OK = "All waypoints resolved"
RESOLVED_WAYPOINTS_MISSING_LABEL = ("istio.io/use-waypoint label missing from parent and parent namespace; "
                                    "in ambient mode, route will not be respected")
RESOLVED_WAYPOINTS_NO_PARENT = "parent not found"


def find_misconfigurations(snapshot):
    findings = []
    findings += _sidecar_and_ambient(snapshot)
    findings += _bad_bindings(snapshot)
    findings += _waypoints_no_istiod_serves(snapshot)
    findings += _restarts_pending(snapshot)
    findings += _capture_mismatches(snapshot)
    findings += _vs_splits_without_waypoint(snapshot)
    findings += _routes_without_waypoint(snapshot)
    findings += _vs_and_route_on_same_service(snapshot)
    findings += _vs_ignored_at_waypoint(snapshot)
    findings += _weighted_backends_without_pods(snapshot)
    findings += _all_weights_zero(snapshot)
    findings += _expired_faults(snapshot)
    findings += _retries_of_non_idempotent_requests(snapshot)
    return findings


def _catch_all(obj):
    """True when the object routes every request of the host: a rule without matches (or a path / match
    that takes everything, which is what a rule without matches becomes)."""
    if obj.get("kind") == "HTTPRoute":
        everything = ({}, {"path": {"type": "PathPrefix", "value": "/"}})
        rules = (obj.get("spec") or {}).get("rules") or []
        return any(not r.get("matches") or any(m in everything for m in r["matches"]) for r in rules)
    return any(not r.get("match") for r in (obj.get("spec") or {}).get("http") or [])


def _served_keys(vs, snapshot):
    """(Service key, waypoint Gateway) of each host of a mesh VirtualService that a waypoint serves."""
    out = []
    for host in (vs.get("spec") or {}).get("hosts") or []:
        key = service_for_host(host, vs["metadata"]["namespace"], snapshot.services)
        if key is None:
            continue
        gateway = snapshot.serving_waypoint(snapshot.services[key])
        if gateway is not None:
            out.append((key, gateway))
    return out


def _sidecar_and_ambient(snapshot):
    out = []
    for name, ns in sorted(snapshot.namespaces.items()):
        lbl = labels_of(ns)
        if lbl.get(DATAPLANE_MODE) == "ambient" and (lbl.get(INJECTION) == "enabled" or REVISION in lbl):
            which = "%s=enabled" % INJECTION if lbl.get(INJECTION) == "enabled" else REVISION
            out.append(_finding(
                "SIDECAR_AND_AMBIENT", "warning", ns,
                "namespace %s has both %s (sidecars) and %s=ambient; pods keep their sidecars and "
                "ambient capture is skipped for them" % (name, which, DATAPLANE_MODE),
                "remove %s from namespace %s and restart its workloads (ambient.mesh.ambient_namespace with "
                "migrate_sidecars: true does this in the documented order)" % (which.partition("=")[0], name)))
    return out


def _bad_bindings(snapshot):
    out = []
    holders = [("Namespace", n) for _k, n in sorted(snapshot.namespaces.items())]
    holders += [("Service", s) for _k, s in sorted(snapshot.services.items())]
    for kind, obj in holders:
        lbl = labels_of(obj)
        name = lbl.get(USE_WAYPOINT)
        if not name or name == "none":
            continue
        own_ns = obj["metadata"].get("namespace") or obj["metadata"]["name"]
        wp_ns = lbl.get(USE_WAYPOINT_NAMESPACE, own_ns)
        gateway = snapshot.waypoints.get((wp_ns, name))
        if kind == "Namespace" and not snapshot.ambient(own_ns):
            mode = lbl.get(DATAPLANE_MODE)
            out.append(_finding(
                "WAYPOINT_BOUND_NOT_AMBIENT", "warning", obj,
                "namespace %s uses waypoint %s/%s but is not in ambient mode (%s): its pods' traffic does not go "
                "through ztunnel, so it never reaches the waypoint" % (
                    own_ns, wp_ns, name, "%s=%s" % (DATAPLANE_MODE, mode) if mode else "no %s label" % DATAPLANE_MODE),
                "enroll namespace %s (ambient.mesh.ambient_namespace), or remove its %s label" % (own_ns, USE_WAYPOINT)))
        if gateway is None and wp_ns != own_ns and wp_ns not in snapshot.namespaces:
            out.append(_finding(
                "WAYPOINT_NAMESPACE_NOT_FOUND", "error", obj,
                "%s %s has %s=%s, a namespace that does not exist, so its waypoint %s/%s cannot exist either; its "
                "traffic gets no L7 processing" % (kind, obj["metadata"]["name"], USE_WAYPOINT_NAMESPACE, wp_ns, wp_ns, name),
                "fix the %s label, or create namespace %s and its waypoint (ambient.mesh.waypoint name=%s namespace=%s)"
                % (USE_WAYPOINT_NAMESPACE, wp_ns, name, wp_ns)))
            continue
        if gateway is None:
            out.append(_finding(
                "WAYPOINT_NOT_FOUND", "error", obj,
                "%s %s has %s=%s but namespace %s has no waypoint named %s; its traffic gets no L7 processing"
                % (kind, obj["metadata"]["name"], USE_WAYPOINT, name, wp_ns, name),
                "create the waypoint (ambient.mesh.waypoint name=%s namespace=%s) or fix the label" % (name, wp_ns)))
            continue
        serves = waypoint_for(gateway)
        if serves not in SERVES[kind]:
            out.append(_finding(
                "WAYPOINT_WRONG_TYPE", "error", obj,
                "%s %s uses waypoint %s/%s, whose %s=%s cannot serve a %s"
                % (kind, obj["metadata"]["name"], wp_ns, name, WAYPOINT_FOR, serves, kind),
                "set %s to %s on waypoint %s/%s, or bind a waypoint that serves it"
                % (WAYPOINT_FOR, " or ".join(SERVES[kind][:1] + ("all",)), wp_ns, name)))
    return out


def _vs_splits_without_waypoint(snapshot):
    out = []
    for vs in snapshot.virtualservices:
        ns = vs["metadata"]["namespace"]
        if not vs_is_split(vs) or not vs_applies_to_mesh(vs):
            continue
        for host in (vs.get("spec") or {}).get("hosts") or []:
            key = service_for_host(host, ns, snapshot.services)
            if key is None or not snapshot.ambient(key[0]):
                continue
            if snapshot.serving_waypoint(snapshot.services[key]) is None:
                out.append(_finding(
                    "VS_SPLIT_WITHOUT_WAYPOINT", "error", vs,
                    "VirtualService %s/%s splits traffic to Service %s/%s, which no waypoint serves: in ambient "
                    "mode the split is ignored and traffic is spread over all endpoints (the 95/5 that comes "
                    "out ~50/50)" % (ns, vs["metadata"]["name"], key[0], key[1]),
                    "deploy a waypoint for namespace %s (ambient.mesh.waypoint) and express the split as an "
                    "HTTPRoute on the Service with per-version Services as backends (ambient.mesh.traffic_split)"
                    % key[0]))
    return out


def _resolved_waypoints_message(route, parent_key):
    cond = condition_state(route, "ResolvedWaypoints", parent={"namespace": parent_key[0], "name": parent_key[1]})[1]
    return cond.get("message") if cond else None


def _routes_without_waypoint(snapshot):
    out = []
    for route in snapshot.httproutes:
        for key in service_parents(route):
            service = snapshot.services.get(key)
            message = _resolved_waypoints_message(route, key)
            # ResolvedWaypoints is always True; istiod's message says when the label is missing (then
            # the route is not respected), but "All waypoints resolved" does not prove a waypoint exists
            no_waypoint = service is None or snapshot.serving_waypoint(service) is None
            if message == RESOLVED_WAYPOINTS_MISSING_LABEL:
                no_waypoint = True
            if message == RESOLVED_WAYPOINTS_OK:
                message = None
            if no_waypoint:
                out.append(_finding(
                    "HTTPROUTE_WITHOUT_WAYPOINT", "error", route,
                    "HTTPRoute %s/%s is attached to Service %s/%s, which no waypoint serves, so its rules "
                    "(weights, matches, filters) are not applied%s"
                    % (route["metadata"]["namespace"], route["metadata"]["name"], key[0], key[1],
                       " (istiod: %s)" % message if message else ""),
                    "deploy a waypoint and label namespace %s or the Service with %s (ambient.mesh.waypoint "
                    "with enroll)" % (key[0], USE_WAYPOINT)))
    return out


def _vs_and_route_on_same_service(snapshot):
    """At a waypoint, HTTPRoutes become internal VirtualServices, and the routes of every VirtualService for a
    host are concatenated in one list, so the first one's catch-all shadows all after it. The list (Istio
    1.30.3 pilot/pkg/model/push_context.go VirtualServicesForGateway): VirtualServices private to the waypoint's
    namespace, then those exported to it, then the HTTPRoutes of the waypoint's namespace, then the other
    public ones in creation order (waypoint_order). Nothing rejects or warns about the mix."""
    routed = {}
    for route in snapshot.httproutes:
        for key in service_parents(route):
            routed.setdefault(key, []).append(route)
    out = []
    for vs in snapshot.virtualservices:
        if not vs_applies_to_mesh(vs):
            continue
        ns = vs["metadata"]["namespace"]
        for host in (vs.get("spec") or {}).get("hosts") or []:
            key = service_for_host(host, ns, snapshot.services)
            served = [g for k, g in _served_keys(vs, snapshot) if k == key]
            if key is None or key not in routed or any(ns not in (key[0], g["metadata"]["namespace"]) for g in served):
                continue  # a waypoint ignores it anyway (VS_IN_THIRD_NAMESPACE)
            routes = routed[key]
            if is_fault(vs):
                # a fault limited to requests no rule of the route can take, as fault_injection allows it:
                # the merge order decides nothing for them
                routes = [r for r in routes if virtualservice_route_overlap(vs, r)]
                if not routes:
                    continue
            waypoint_ns = served[0]["metadata"]["namespace"] if served else key[0]
            ordered = waypoint_order(routes + [vs], key, waypoint_ns)
            if vs not in ordered:
                continue  # its exportTo hides it from the waypoint: nothing is merged
            names = ", ".join("%s (created %s)" % (object_ref(o), o["metadata"].get("creationTimestamp") or "?")
                              for o in ordered)
            first = ordered[0]
            if _catch_all(first):
                winner = ("%s comes first and has a catch-all rule, so it wins: the rules of %s never apply"
                          % (object_ref(first), ", ".join(object_ref(o) for o in ordered[1:])))
            else:
                winner = ("%s comes first and wins for the requests its rules match; a catch-all rule in one "
                          "shadows every rule after it" % object_ref(first))
            where = ("waypoint %s/%s" % (served[0]["metadata"]["namespace"], served[0]["metadata"]["name"])
                     if served else "a waypoint")
            out.append(_finding(
                "VS_AND_HTTPROUTE_SAME_SERVICE", "error", vs,
                "VirtualService %s/%s and HTTPRoute(s) route Service %s/%s; %s merges their routes in this "
                "order: %s (VirtualServices private to the waypoint's namespace, then those exported to it, then "
                "the HTTPRoutes of the waypoint's namespace, then the other public ones in creation order); %s"
                % (ns, vs["metadata"]["name"], key[0], key[1], where, names, winner),
                "keep one: move the VirtualService's rules into the HTTPRoute (faults excepted), or remove "
                "the HTTPRoute and recreate the VirtualService"))
    return out


def _vs_ignored_at_waypoint(snapshot):
    """What a waypoint drops from a VirtualService (Istio 1.30.3 pilot/pkg/networking/core/listener_waypoint.go):
    VirtualServices outside the Service's and the waypoint's namespaces (getVirtualServiceForWaypoint), and
    matches using sourceLabels (waypointInboundRoute)."""
    out = []
    for vs in snapshot.virtualservices:
        if not vs_applies_to_mesh(vs):
            continue
        ns, name = vs["metadata"]["namespace"], vs["metadata"]["name"]
        served = _served_keys(vs, snapshot)
        for key, gateway in served:
            wp_ns = gateway["metadata"]["namespace"]
            if ns not in (key[0], wp_ns):
                out.append(_finding(
                    "VS_IN_THIRD_NAMESPACE", "error", vs,
                    "VirtualService %s/%s routes Service %s/%s, whose waypoint %s/%s takes VirtualServices only from "
                    "namespaces %s: the waypoint ignores this one"
                    % (ns, name, key[0], key[1], wp_ns, gateway["metadata"]["name"],
                       " and ".join(sorted(set([key[0], wp_ns])))),
                    "move VirtualService %s to namespace %s" % (name, key[0])))
        if not served:
            continue
        dropped = []
        for index, route in enumerate((vs.get("spec") or {}).get("http") or []):
            for m_index, match in enumerate(route.get("match") or []):
                if match.get("sourceLabels"):
                    dropped.append("http[%d].match[%d]" % (index, m_index))
        if dropped:
            out.append(_finding(
                "VS_SOURCE_LABELS_AT_WAYPOINT", "warning", vs,
                "VirtualService %s/%s matches on sourceLabels (%s) for a Service a waypoint serves; waypoints drop "
                "those matches, so they never apply" % (ns, name, ", ".join(dropped)),
                "match on what the waypoint sees of the request (headers, uri) instead of sourceLabels"))
    return out


def _weighted_backends_without_pods(snapshot):
    """A weighted rule of a route on a Service sends its share to a backend Service whose selector matches no
    pod template in its namespace: those requests fail (no healthy upstream). Only where the namespace has
    workloads at all (none yet: the apps come later, as ambient.mesh.traffic_split warns)."""
    out = []
    for route in snapshot.httproutes:
        if not service_parents(route) or snapshot.templates is None:
            continue
        ns = route["metadata"]["namespace"]
        for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
            backends = rule.get("backendRefs") or []
            if len(backends) < 2:
                continue
            for backend in backends:
                if backend.get("weight", 1) == 0 or backend.get("kind", "Service") != "Service":
                    continue
                key = (backend.get("namespace", ns), backend.get("name"))
                selector = ((snapshot.services.get(key) or {}).get("spec") or {}).get("selector") or {}
                templates = snapshot.templates.get(key[0]) or []
                if not selector or not templates or any(
                        all(t.get(k) == v for k, v in selector.items()) for t in templates):
                    continue
                out.append(_finding(
                    "WEIGHTED_BACKEND_WITHOUT_PODS", "error", route,
                    "rule %d of HTTPRoute %s/%s sends weight %s to Service %s/%s, whose selector %s matches no pod "
                    "template of a Deployment or StatefulSet in %s: those requests fail"
                    % (index, ns, route["metadata"]["name"], backend.get("weight", 1), key[0], key[1],
                       ",".join("%s=%s" % kv for kv in sorted(selector.items())), key[0]),
                    "deploy that version, fix the Service's selector, or set its weight to 0 "
                    "(ambient.mesh.traffic_split)"))
    return out


def _all_weights_zero(snapshot):
    """A rule whose backends all have weight 0 routes no request anywhere (Gateway API: such requests get an
    HTTP 500; istiod drops weight-0 backends, pilot/pkg/config/kube/gateway/conversion.go buildHTTPDestination)."""
    out = []
    for route in snapshot.httproutes:
        if not service_parents(route):
            continue
        for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
            backends = rule.get("backendRefs") or []
            if backends and all(b.get("weight", 1) == 0 for b in backends):
                out.append(_finding(
                    "SPLIT_ALL_WEIGHTS_ZERO", "error", route,
                    "every backend of rule %d of HTTPRoute %s/%s has weight 0, so the requests it matches go nowhere "
                    "(HTTP 500)" % (index, route["metadata"]["namespace"], route["metadata"]["name"]),
                    "give at least one backend a weight above 0 (ambient.mesh.traffic_split refuses all-zero weights)"))
    return out


def _retries_of_non_idempotent_requests(snapshot):
    """A rule that retries an answer's status (retry.codes, retryOn 5xx or codes) for requests of every method: a
    POST the app handled before it answered 503 runs again. Istio's default policy (route/retry/retry.go) retries
    only connection failures and refused streams, which never reached the app; Envoy retries any method."""
    out = []
    for kind, objects, rules_of in (("HTTPRoute", snapshot.httproutes, lambda o: (o.get("spec") or {}).get("rules")),
                                    ("VirtualService", snapshot.virtualservices, lambda o: (o.get("spec") or {}).get("http"))):
        for obj in objects:
            for index, rule in enumerate(rules_of(obj) or []):
                statuses = retried_statuses(rule, kind)
                if statuses is None or not non_idempotent_matches(rule, kind):
                    continue
                out.append(_finding(
                    "RETRY_NON_IDEMPOTENT", "warning", obj,
                    "rule %d of %s %s/%s retries answers with %s for requests of any method, so a POST or PATCH the "
                    "app handled before it answered runs again; Istio's default policy retries only connection "
                    "failures and refused streams, which never reached the app"
                    % (index, kind, obj["metadata"]["namespace"], obj["metadata"]["name"], statuses),
                    "retry statuses only in a rule that matches idempotent methods (GET, HEAD, PUT, DELETE), route "
                    "the others by a rule without retry codes, or make sure the handlers are idempotent"))
    return out


def _fault_text(vs):
    parts = []
    for route in (vs.get("spec") or {}).get("http") or []:
        fault = route.get("fault") or {}
        delay, abort = fault.get("delay"), fault.get("abort")
        if delay:
            share = (delay.get("percentage") or {}).get("value", 100)
            parts.append("delay %s for %s%% of requests" % (delay.get("fixedDelay"), share))
        if abort:
            share = (abort.get("percentage") or {}).get("value", 100)
            parts.append("HTTP %s for %s%% of requests" % (abort.get("httpStatus"), share))
    return " and ".join(parts) or "a fault"


def _expired_faults(snapshot):
    """A fault VirtualService of this collection whose ambient.mesh/expires-at has passed: a play that injected it
    was interrupted before its clean-up (Ansible runs no `always` on an interrupt), and Istio keeps applying it -
    a forgotten fault is an outage."""
    out = []
    for vs in sorted(snapshot.virtualservices, key=object_ref):
        moment = expiry(vs)
        if not is_fault(vs) or moment is None or moment > snapshot.now:
            continue
        ns, name = vs["metadata"]["namespace"], vs["metadata"]["name"]
        service = labels_of(vs)[FAULT_FOR]
        out.append(_finding(
            "FAULT_EXPIRED", "error", vs,
            "fault VirtualService %s/%s (%s, on Service %s/%s) expired at %s (created %s) and is still in force: "
            "a fault left behind, most likely by an interrupted ambient.mesh.fault_check run"
            % (ns, name, _fault_text(vs), ns, service, format_time(moment), annotation(vs, CREATED_AT) or "?"),
            "remove it: ambient.mesh.fault_injection with prune_expired: [%s] (or faults: [{service: %s, namespace: "
            "%s, state: absent}]); the fault_check role does this before every check" % (ns, service, ns)))
    return out


def _waypoints_no_istiod_serves(snapshot):
    """A waypoint whose revision (its istio.io/rev, else its namespace's, else the default revision) no running
    istiod serves is never Programmed: istiod's deployment controller skips Gateways of other revisions (Istio
    1.30.3 pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go, Reconcile). Only where some istiod runs."""
    if snapshot.planes is None or not snapshot.planes["revisions"]:
        return []  # no istiod at all: mesh_info's istio section says Istio is not installed
    out = []
    for (ns, name), gateway in sorted(snapshot.waypoints.items()):
        own = labels_of(gateway).get(REVISION)
        selected = own or labels_of(snapshot.namespaces.get(ns, {})).get(REVISION) or ""
        if serving_revisions(snapshot.planes, selected):
            continue
        which = ("revision %s" % selected + ("" if own else " (namespace %s's %s)" % (ns, REVISION))) if selected \
            else "the default revision"
        out.append(_finding(
            "WAYPOINT_REVISION_NOT_SERVED", "error", gateway,
            "waypoint %s/%s is for %s, which no istiod serves (%s): it is never Programmed, and what is bound to it "
            "gets no L7 processing" % (ns, name, which, describe_planes(snapshot.planes)),
            "set %s on the waypoint to a running revision or a tag pointing at one (ambient.mesh.waypoint revision:), "
            "or install that revision (ambient.mesh.install)" % REVISION))
    return out


def _annotations(obj):
    return (obj.get("metadata") or {}).get("annotations") or {}


def _restarts_pending(snapshot):
    out = []
    for name, ns in sorted(snapshot.namespaces.items()):
        since = _annotations(ns).get(RESTART_PENDING_ANNOTATION)
        if since is None:
            continue
        out.append(_finding(
            "RESTART_PENDING", "warning", ns,
            "namespace %s has workloads to restart since %s: its capture changed (ambient or sidecar labels) and its "
            "running pods still have the old one" % (name, since),
            "run ambient.mesh.ambient_namespace for namespace %s with restart_workloads: true (it restarts them once "
            "and removes %s)" % (name, RESTART_PENDING_ANNOTATION)))
    return out


def _has_sidecar(pod):
    containers = (pod.get("spec") or {}).get("containers") or []
    return SIDECAR_STATUS in _annotations(pod) or any(c.get("name") == "istio-proxy" for c in containers)


def _capture_mismatches(snapshot):
    """Namespaces whose running pods are not captured the way the namespace's labels say: pods that keep a sidecar in
    an ambient namespace (istio-cni leaves a pod with a sidecar to it), and pods still redirected to ztunnel in a
    namespace that left ambient mode. Both are what a restart fixes."""
    if snapshot.pods is None:
        return []
    sidecars, redirected = {}, {}
    for pod in snapshot.pods:
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace")
        if (pod.get("status") or {}).get("phase") not in (None, "Pending", "Running") or ns not in snapshot.namespaces:
            continue
        if labels_of(pod).get(DATAPLANE_MODE) in ("ambient", "none"):
            continue  # the pod chose for itself
        if snapshot.ambient(ns) and _has_sidecar(pod):
            sidecars.setdefault(ns, []).append(meta.get("name"))
        elif not snapshot.ambient(ns) and _annotations(pod).get(REDIRECTION) == "enabled":
            redirected.setdefault(ns, []).append(meta.get("name"))
    out = []
    for ns, pods in sorted(sidecars.items()):
        out.append(_finding(
            "CAPTURE_MISMATCH", "error", snapshot.namespaces[ns],
            "namespace %s is in ambient mode but %d pod(s) still run a sidecar (%s): ztunnel does not capture them, "
            "the sidecar does" % (ns, len(pods), ", ".join(sorted(pods)[:5]) + (", ..." if len(pods) > 5 else "")),
            "restart the workloads of namespace %s (ambient.mesh.ambient_namespace with migrate_sidecars: true and "
            "restart_workloads: true)" % ns))
    for ns, pods in sorted(redirected.items()):
        out.append(_finding(
            "CAPTURE_MISMATCH", "error", snapshot.namespaces[ns],
            "namespace %s is not in ambient mode but %d pod(s) are still redirected to ztunnel (%s=enabled: %s)"
            % (ns, len(pods), REDIRECTION, ", ".join(sorted(pods)[:5]) + (", ..." if len(pods) > 5 else "")),
            "restart the workloads of namespace %s so that they leave the mesh (ambient.mesh.ambient_namespace with "
            "restart_workloads: true)" % ns))
    return out
