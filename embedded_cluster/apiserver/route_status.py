"""istiod's status for mesh (GAMMA) HTTPRoutes, the routes whose parent is a Service (Istio 1.30.3).

What istiod 1.30.3 writes, from its source (files under pilot/pkg/config/kube/gateway/ at tag 1.30.3):

- conversion.go extractParentReferenceInfo / referenceAllowed: a parentRef of kind Service (group "") is the
  "mesh" parent. A Service that does not exist denies it: Accepted=False, reason NoMatchingParent, message
  `parent service: "<name>" not found`, and the waypoint error "parent not found". A Service without an
  istio.io/use-waypoint label (a non-empty value other than "none"), in a namespace without one either, is
  accepted, with the waypoint error "istio.io/use-waypoint label missing from parent and parent namespace; in
  ambient mode, route will not be respected". Only the label is checked, not that the waypoint exists.
- route_collections.go HTTPRouteCollection: the rules of a mesh route are converted with enforceRefGrant =
  !mesh, so a cross-namespace backend of a Service-parented route needs no ReferenceGrant (it is not
  reported). Each rule is split into one route per match.
- conversion.go buildHTTPDestination / buildDestination: backends with weight 0 are skipped; a Service
  backend that does not exist is ResolvedRefs=False, reason BackendNotFound, message
  `backend(<name>.<namespace>.svc.cluster.local) not found`; a kind other than Service is InvalidKind
  `referencing unsupported backendRef: group "<group>" kind "<kind>"`; a name with a dot is InvalidDestination
  "service name invalid; the name of the Service must be used, not the hostname."; no port is
  InvalidDestination "port is required in backendRef". The last error of the route is the one reported.
- conditions.go createRouteStatus / setConditions: per parent, controllerName istio.io/gateway-controller,
  conditions Accepted (True/Accepted "Route was valid"), ResolvedRefs (True/ResolvedRefs "All references
  resolved") and, with ambient on, ResolvedWaypoints, always True (reason ResolvedWaypoints), its message
  "All waypoints resolved" or the waypoint error; observedGeneration the route's generation; a condition
  whose status, message and observedGeneration did not change is kept as it was
  (pilot/pkg/model/kstatus/helper.go UpdateConditionIfChanged). Entries of other controllers stay;
  entries istiod wrote for parents the route no longer has are removed; new entries are appended in
  descending parentRefString order.

Knowingly simpler than istiod:
- Only Service parents are handled: a route with no Service parent is left alone, and Gateway and
  ServiceEntry parents get no entry (their entries, if any, are dropped as parents no longer reported).
- A parentRef port the Service does not have is not checked (istiod 1.30.3 does not check it either for a
  Service parent; only Gateway parents get "port N not found"): such a route is Accepted and never matches.
- Filters, hostnames, timeouts and the other rule fields are not converted, so they never produce errors.
- A route is programmed by the first running istiod whose revision (or tag) claims it
  (pkg/revisions/tag_watcher.go IsMine, as for waypoints); with no istiod running nothing is written.
"""

import asyncio

from .controllers import (GATEWAY_STATUS_MANAGER, OWN_MANAGERS, PlanesCache, _condition, _labels, changes_control_planes,
                          go_quote, is_mine)

# pilot/pkg/features/pilot.go ManagedGatewayController
CONTROLLER = "istio.io/gateway-controller"
DOMAIN = "cluster.local"  # the mesh's domain suffix (ctx.DomainSuffix)
USE_WAYPOINT = "istio.io/use-waypoint"
# conditions.go: RouteReasonResolvedWaypoints, WaypointErrorMsgMissingLabel, WaypointErrorMsgNoMatchingParent
RESOLVED_WAYPOINTS = "ResolvedWaypoints"
ALL_WAYPOINTS_RESOLVED = "All waypoints resolved"
MISSING_LABEL = ("istio.io/use-waypoint label missing from parent and parent namespace; "
                 "in ambient mode, route will not be respected")
NO_PARENT = "parent not found"


def waypoint_configured(labels):
    """conversion.go waypointConfigured: a non-empty istio.io/use-waypoint that is not "none" (any case)."""
    value = labels.get(USE_WAYPOINT)
    return bool(value) and value.lower() != "none"


def parent_error(ref, route_ns, services, namespaces):
    """conversion.go referenceAllowed for a Service parent: (denied (reason, message) or None, waypoint error)."""
    ns = ref.get("namespace") or route_ns
    svc = services.get((ns, ref["name"]))
    if svc is None:
        return ("NoMatchingParent", "parent service: %s not found" % go_quote(ref["name"])), NO_PARENT
    if not waypoint_configured(_labels(svc)):
        namespace = namespaces.get(svc["metadata"]["namespace"])
        if namespace is not None and not waypoint_configured(_labels(namespace)):
            return None, MISSING_LABEL
    return None, None


def backend_error(backend, route_ns, services):
    """conversion.go buildDestination with enforceRefGrant false: (error, hard) or None."""
    group, kind = backend.get("group", ""), backend.get("kind", "Service")
    if (group, kind) != ("", "Service"):
        return ("InvalidKind", "referencing unsupported backendRef: group %s kind %s"
                % (go_quote(group), go_quote(kind))), False
    name = backend["name"]
    if "." in name:
        return ("InvalidDestination",
                "service name invalid; the name of the Service must be used, not the hostname."), True
    ns = backend.get("namespace") or route_ns
    error = None
    if (ns, name) not in services:
        error = ("BackendNotFound", "backend(%s.%s.svc.%s) not found" % (name, ns, DOMAIN))
    if backend.get("port") is None:
        return ("InvalidDestination", "port is required in backendRef"), True
    return (error, False) if error else None


def route_error(route, services):
    """The error of the mesh conversion of a route (route_collections.go computeRoute convertRules): the
    last one, or the first hard one."""
    ns = route["metadata"]["namespace"]
    last = None
    for rule in (route.get("spec") or {}).get("rules") or []:
        for _match in rule.get("matches") or [None]:
            invalid = None
            for backend in rule.get("backendRefs") or []:
                if backend.get("weight", 1) == 0:
                    continue
                found = backend_error(backend, ns, services)
                if found is None:
                    continue
                if found[1]:
                    return found[0]
                invalid = found[0]
            if invalid is not None:
                last = invalid
    return last


def parent_ref_string(ref, route_ns):
    """conversion.go parentRefString."""
    return "%s/%s/%s/%s/%s.%s" % (ref.get("group") or "gateway.networking.k8s.io", ref.get("kind") or "Gateway",
                                  ref["name"], ref.get("sectionName", ""), ref.get("port", 0),
                                  ref.get("namespace") or route_ns)


def set_conditions(existing, wanted, generation):
    """conditions.go setConditions over kstatus.UpdateConditionIfChanged."""
    out = [dict(c) for c in existing or []]
    for cond_type in sorted(wanted):
        ok, reason, message = wanted[cond_type]
        old = {c["type"]: c for c in out}
        new = _condition(cond_type, ok, reason, message, generation, old)
        current = old.get(cond_type)
        if current is None:
            out.append(new)
        elif not (current.get("status") == new["status"] and current.get("message") == message
                  and current.get("observedGeneration") == generation):
            out[out.index(current)] = new
    return out


def route_status(route, services, namespaces):
    """The status istiod writes on a route with Service parents; None for a route without any."""
    ns = route["metadata"]["namespace"]
    refs = [r for r in (route.get("spec") or {}).get("parentRefs") or []
            if r.get("kind") == "Service" and r.get("group", "gateway.networking.k8s.io") in ("", "core")]
    if not refs:
        return None
    generation = route["metadata"].get("generation", 1)
    error = route_error(route, services)
    current = list((route.get("status") or {}).get("parents") or [])
    ours = {parent_ref_string(p["parentRef"], ns): i for i, p in enumerate(current)
            if p.get("controllerName") == CONTROLLER}
    appended = []
    for ref in refs:
        denied, waypoint = parent_error(ref, ns, services, namespaces)
        wanted = {
            "Accepted": (False,) + denied if denied else (True, "Accepted", "Route was valid"),
            "ResolvedRefs": (False,) + error if error else (True, "ResolvedRefs", "All references resolved"),
            RESOLVED_WAYPOINTS: (True, RESOLVED_WAYPOINTS, waypoint or ALL_WAYPOINTS_RESOLVED),
        }
        key = parent_ref_string(ref, ns)
        index = ours.pop(key, None)
        previous = current[index]["conditions"] if index is not None else []
        entry = {"parentRef": ref, "controllerName": CONTROLLER,
                 "conditions": set_conditions(previous, wanted, generation)}
        if index is not None:
            current[index] = entry
        else:
            appended.append(entry)
    appended.sort(key=lambda e: parent_ref_string(e["parentRef"], ns), reverse=True)
    gone = set(ours.values())
    return {"parents": [p for i, p in enumerate(current) if i not in gone] + appended}


def touched_namespaces(route):
    """The namespaces whose Services and labels a route's status reads: its own, its parents' and its backends'."""
    ns = route["metadata"]["namespace"]
    spec = route.get("spec") or {}
    refs = list(spec.get("parentRefs") or []) + [b for rule in spec.get("rules") or [] for b in rule.get("backendRefs") or []]
    return {ns} | {r.get("namespace") or ns for r in refs}


class StoreLookup:
    """services[(namespace, name)] / namespaces[name] as route_status() reads them, straight from the store."""

    def __init__(self, store, plural):
        self._store, self._plural = store, plural

    def _key(self, key):
        return ("", self._plural) + (tuple(key) if self._plural == "services" else ("", key))

    def get(self, key, default=None):
        return self._store.get(self._key(key), default)

    def __contains__(self, key):
        return self._key(key) in self._store


class RouteStatusController:
    """Writes istiod's status on HTTPRoutes with Service parents. `enabled = False` stops it (an istiod that
    does not answer). After the writes of one event-loop tick it looks only at the routes they can affect: a
    route written, or one that reads a namespace whose Service or labels changed; an istiod, webhook or tag
    write (control_planes) affects every route."""

    KINDS = ("HTTPRoute", "Service", "Namespace", "Deployment", "MutatingWebhookConfiguration",
             "ValidatingWebhookConfiguration")

    def __init__(self, server):
        self.server = server
        self.enabled = True
        self._scheduled = False
        self._planes = PlanesCache(server)
        self._everything = True
        self._routes = set()  # HTTPRoute keys
        self._namespaces = set()  # namespaces whose Services or labels changed

    def notify(self, res, manager, new=None, old=None):
        if changes_control_planes(res, new, old):
            self._planes.invalidate()
        if res.plural == "customresourcedefinitions" and new is None:
            self._everything = True  # a CRD's objects went with it, unannounced (as before: seen at the next reconcile)
        if manager in OWN_MANAGERS or res.kind not in self.KINDS:
            return
        if not self.enabled:
            self._everything = True  # an istiod that comes back lists everything again
            return
        obj = new if new is not None else old
        if obj is None or changes_control_planes(res, new, old):
            self._everything = True
        elif res.kind == "HTTPRoute":
            self._routes.add(self.server._key(res, obj["metadata"]["namespace"], obj["metadata"]["name"]))
        elif res.kind == "Namespace":
            self._namespaces.add(obj["metadata"]["name"])
        elif res.kind == "Service":
            self._namespaces.add(obj["metadata"]["namespace"])
        else:
            return  # another Deployment: nothing a route's status reads
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.reconcile)

    def reconcile(self):
        self._scheduled = False
        res = self.server.catalog.by_kind("gateway.networking.k8s.io/v1", "HTTPRoute")
        if not self.enabled:
            self._everything = True
            return
        everything, routes, namespaces_changed = self._everything, self._routes, self._namespaces
        self._everything, self._routes, self._namespaces = False, set(), set()
        if res is None:
            return
        planes, default_rev, default_tag = self._planes.get()
        if not planes:
            return
        store = self.server.objects
        services, namespaces = StoreLookup(store, "services"), StoreLookup(store, "namespaces")
        for key, route in list(store.of_kind(res.group, res.plural).items()):
            if not (everything or key in routes or touched_namespaces(route) & namespaces_changed):
                continue
            meta = route["metadata"]
            namespace = namespaces.get(meta["namespace"]) or {}
            if not any(is_mine(rev, tags, default_rev, default_tag, route, namespace) for rev, tags in planes):
                continue
            status = route_status(route, services, namespaces)
            if status is None or route.get("status") == status:
                continue
            self.server._write(res, meta["namespace"], meta["name"], route, dict(route, status=status),
                               manager=GATEWAY_STATUS_MANAGER, apply=False, sub="status", dry_run=False)
