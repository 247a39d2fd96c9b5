# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fault_injection: delays and aborts for Services, as Istio VirtualServices applied by their waypoint.

In ambient mode only a waypoint applies L7 faults (DESIGN.md section 1); without one the VirtualService
is accepted and silently does nothing. At the waypoint the routes of every HTTPRoute and VirtualService for a
host are concatenated in one list (the HTTPRoutes of the waypoint's namespace before public VirtualServices,
_istio.route_order.waypoint_order), so a fault next to another route for the same requests either never
fires or breaks that route. This module refuses both, before any change, and touches only the VirtualServices it
made (labels in _fault_records).

The planner (normalize, plan) is pure: parameters, live objects and the time in; objects to apply, to
delete, and the problems out. run() reads by LIST, applies in one batch and deletes concurrently.
"""


import datetime

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects, diff_entries, summarize
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_match import (
    httproute_catches,
    match_problems,
    virtualservice_catches,
    virtualservice_matches,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.fault_records import (
    CREATED_AT,
    EXPIRES_AT,
    FAULT_FOR,
    MANAGED_BY,
    MANAGER,
    annotation,
    format_time,
    is_expired,
    is_fault,
    parse_duration,
    parse_time,
    utc_now,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.kinds import SERVICE, HTTPROUTE, VIRTUALSERVICE
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import object_ref, ref_of
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import read_all, run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._objects.labels import valid_dns_label
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import DOMAIN, host_matches, vs_applies_to_mesh
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import service_parents
from ansible_collections.ambient.mesh.plugins.module_utils._istio.waypoint_binding import serving_problem, waypoint_namespace
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_order import waypoint_order

NAME_SUFFIX = "-fault"


# ---- parameters ------------------------------------------------------------------------------
def _percentage(value, what, where, problems):
    """Istio's rule (1.30.3 pkg/config/validation/validation.go validatePercentage): 0, or 0.0001 to 100."""
    if value is None:
        return 100.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number < 0 or number > 100 or 0 < number < 0.0001:
        problems.append("%s: %s.percentage %r is not a number from 0 to 100" % (where, what, value))
        return None
    return number


def delay_text(seconds):
    """A delay as protobuf JSON writes a Duration - seconds with an s suffix ("3s", "0.5s") - which both
    the CRD's CEL rule (duration(self) >= duration('1ms')) and istiod's protobuf decoding accept."""
    millis = int(round(seconds * 1000))
    whole, rest = divmod(millis, 1000)
    return "%d.%03ds" % (whole, rest) if rest else "%ds" % whole


def _delay(delay, where, problems):
    if not delay:
        return None
    seconds = parse_duration(delay.get("fixed_delay"))
    if seconds is None:
        problems.append("%s: delay.fixed_delay %r is not a duration (for example 3s, 500ms, 1m30s)"
                        % (where, delay.get("fixed_delay")))
    # Istio 1.30.3 pkg/config/validation/agent/validation.go ValidateDuration: at least 1ms, in whole ms
    elif seconds < 0.001 or abs(seconds * 1000 - round(seconds * 1000)) > 1e-6:
        problems.append("%s: delay.fixed_delay %r must be at least 1ms, in whole milliseconds (Istio's rule)"
                        % (where, delay.get("fixed_delay")))
        seconds = None
    percentage = _percentage(delay.get("percentage"), "delay", where, problems)
    return {"seconds": seconds, "fixed_delay": delay_text(seconds) if seconds else None, "percentage": percentage}


def _abort(abort, where, problems):
    if not abort:
        return None
    status = abort.get("http_status")
    # Istio 1.30.3 pkg/config/validation/validation.go validateHTTPStatus: "not in range 200-599"
    if isinstance(status, bool) or not isinstance(status, int) or status < 200 or status > 599:
        problems.append("%s: abort.http_status %r is not an HTTP status from 200 to 599" % (where, status))
    percentage = _percentage(abort.get("percentage"), "abort", where, problems)
    return {"http_status": status, "percentage": percentage}


def _destinations(items, where, problems):
    out = []
    for item in items or []:
        if not valid_dns_label(item.get("service")):
            problems.append("%s: destinations[].service %r is not a valid Service name" % (where, item.get("service")))
        weight = item.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int) or weight < 0):
            problems.append("%s: destinations[].weight %r must be an integer of at least 0" % (where, weight))
        out.append(dict(item))
    weights = [d.get("weight") for d in out]
    if len(out) > 1 and all(isinstance(w, int) for w in weights) and sum(weights) == 0:
        # Istio 1.30.3 validateHTTPRouteDestinations: "total destination weight = 0"
        problems.append("%s: the destinations' weights add up to 0" % where)
    if len(out) > 1 and any(w is None for w in weights):
        problems.append("%s: with more than one destination, give each a weight" % where)
    return out


def normalize(items, prune_expired=None):
    """The faults with defaults filled in, or AmbientMeshError naming every problem of the parameters."""
    problems, out, seen = [], [], set()
    for index, item in enumerate(items or []):
        spec = dict(item)
        key = (spec.get("namespace"), spec.get("service"))
        where = "fault %d (%s/%s)" % (index, key[0], key[1])
        for field in ("service", "namespace"):
            if not valid_dns_label(spec.get(field)):
                problems.append("%s: %s %r is not a valid name" % (where, field, spec.get(field)))
        if key in seen:
            problems.append("%s is listed twice: one fault per Service (limit it with match)" % where)
        seen.add(key)
        spec["state"] = spec.get("state") or "present"
        spec["name"] = "%s%s" % (spec.get("service"), NAME_SUFFIX)
        if spec["state"] == "present":
            spec["delay"] = _delay(spec.get("delay"), where, problems)
            spec["abort"] = _abort(spec.get("abort"), where, problems)
            if not spec["delay"] and not spec["abort"]:
                problems.append("%s: give a delay, an abort or both" % where)
            problems.extend(match_problems(spec.get("match"), where))
            spec["destinations"] = _destinations(spec.get("destinations"), where, problems)
            expires = spec.get("expires_after")
            spec["expires_seconds"] = None
            if expires not in (None, ""):
                seconds = parse_duration(expires)
                if seconds is None or seconds <= 0:
                    problems.append("%s: expires_after %r is not a duration above 0 (for example 15m, 1h)"
                                    % (where, expires))
                spec["expires_seconds"] = seconds
        out.append(spec)
    for namespace in prune_expired or []:
        if not valid_dns_label(namespace):
            problems.append("prune_expired: %r is not a valid namespace name" % (namespace,))
    if problems:
        raise AmbientMeshError("invalid faults, nothing was changed: %s" % "; ".join(problems), problems=problems)
    return out


# ---- live state ------------------------------------------------------------------------------
class Live(object):
    """The objects a plan needs; plain lists (tests build it by hand)."""

    def __init__(self, namespaces=(), services=(), httproutes=(), virtualservices=()):
        self.namespaces = dict((n["metadata"]["name"], n) for n in namespaces)
        self.services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in services)
        self.httproutes = list(httproutes)
        self.virtualservices = list(virtualservices)


def read_live(api, specs, concurrency):
    """By LIST only, concurrently: HTTPRoutes and VirtualServices cluster-wide (a route in another
    namespace may name the Service as its parent; a VirtualService in the waypoint's namespace applies)."""
    reads = {
        "namespaces": lambda: api.list("v1", "Namespace"),
        "services": lambda: sum((api.list(*SERVICE, namespace=ns) for ns in sorted(set(s["namespace"] for s in specs))),
                                []),
        "httproutes": lambda: api.list(*HTTPROUTE, required=False),
        "virtualservices": lambda: api.list(*VIRTUALSERVICE, required=False),
    }
    return Live(**read_all(reads, concurrency))


# ---- the plan --------------------------------------------------------------------------------
def silent_fault_problem(service, live):
    """Why a fault on this Service would silently not apply (no waypoint serves it), or None. The proof is
    istiod's istio.io/WaypointBound True on the Service (DESIGN.md section 1): waypoint_binding.serving_problem."""
    meta = service["metadata"]
    problem = serving_problem(service, live.namespaces.get(meta["namespace"]))
    if problem is None:
        return None
    why = problem[0]
    if not why.startswith("no waypoint serves"):
        why = "no waypoint serves %s (%s)" % (ref_of("Service", meta["namespace"], meta["name"]), why)
    return ("%s: the fault would silently not apply - in ambient mode only a waypoint applies L7 faults; %s, then run "
            "this again" % (why, problem[1]))


def routes_of(service_key, live):
    """HTTPRoutes with the Service as a parent."""
    return [route for route in live.httproutes if service_key in service_parents(route)]


def _split_destinations(route):
    """The route's weighted backends as this module's destinations, for the way out of a split."""
    out = []
    everything = ({}, {"path": {"type": "PathPrefix", "value": "/"}})  # the CRD defaults matches to the latter
    for rule in (route.get("spec") or {}).get("rules") or []:
        if not all(m in everything for m in rule.get("matches") or [{}]):
            continue
        for ref in rule.get("backendRefs") or []:
            out.append("{service: %s, weight: %s}" % (ref.get("name"), ref.get("weight", 1)))
        break
    return out


def _order_text(other, fault_first, waypoint_ns):
    """Which of the two a waypoint in waypoint_ns puts first (waypoint_order), and what follows for the fault."""
    if fault_first:
        return ("at the waypoint (namespace %s) the fault's VirtualService comes before %s, so the fault takes those "
                "requests and breaks its routing" % (waypoint_ns, other))
    return ("at the waypoint (namespace %s) %s comes before the fault's VirtualService, so it takes those requests "
            "and the fault would never fire for them" % (waypoint_ns, other))


def route_problem(spec, route, rules, fault_first=False, waypoint_ns=None):
    """An HTTPRoute that may take the fault's requests: who wins at the waypoint, and the ways out."""
    where = "%s/%s" % (spec["namespace"], spec["service"])
    dests = _split_destinations(route)
    second = ("or remove the split for the duration of the check (ambient.mesh.traffic_split with state: absent) "
              "and express it in the fault's VirtualService with destinations: [%s]" % ", ".join(dests)
              if dests else
              "or remove the route for the duration of the check and express its routing in the fault's "
              "VirtualService with destinations")
    return ("%s already routes Service %s and its rule%s %s may take the requests the fault is for: %s; limit the "
            "fault with match to a path the route does not catch, %s"
            % (object_ref(route), where, "s" if len(rules) > 1 else "", ", ".join(str(r) for r in rules),
               _order_text(object_ref(route), fault_first, waypoint_ns or spec["namespace"]), second))


def _virtualservice_problem(spec, vs, rules, fault_first=False, waypoint_ns=None):
    return ("%s already routes Service %s/%s and its http route%s %s may take the requests the fault is for: %s; "
            "limit the fault with match to a path it does not route, or remove it for the duration of the check"
            % (object_ref(vs), spec["namespace"], spec["service"], "s" if len(rules) > 1 else "",
               ", ".join(str(r) for r in rules),
               _order_text(object_ref(vs), fault_first, waypoint_ns or spec["namespace"])))


def _fault_stand_in(spec, live):
    """The fault's VirtualService as the waypoint would order it: public (the module sets no exportTo), created
    when the live one was if it stays, else now - after every object that exists."""
    existing = _live_named(live, spec["namespace"], spec["name"])
    stamp = "9999-12-31T23:59:59Z"
    if existing is not None and is_fault(existing, spec["service"]):
        stamp = existing["metadata"].get("creationTimestamp") or stamp
    meta = {"name": spec["name"], "namespace": spec["namespace"], "creationTimestamp": stamp}
    return {"kind": "VirtualService", "metadata": meta, "spec": {}}


def other_routing(spec, service, live):
    """(routes beside the fault, problems): HTTPRoutes on the Service, and VirtualServices a waypoint merges
    for its host (from the Service's or the waypoint's namespace, and visible to the waypoint), that may take
    the fault's requests; each problem says which of the two the waypoint puts first (waypoint_order)."""
    key = (spec["namespace"], spec["service"])
    fqdn = "%s.%s.svc.%s" % (spec["service"], spec["namespace"], DOMAIN)
    wp_ns = waypoint_namespace(service, live.namespaces.get(spec["namespace"]))
    fault = _fault_stand_in(spec, live)
    problems, beside = [], []
    for route in sorted(routes_of(key, live), key=object_ref):
        beside.append(object_ref(route))
        rules = httproute_catches(route, spec.get("match"))
        if rules:
            fault_first = waypoint_order([route, fault], key, wp_ns)[0] is fault
            problems.append(route_problem(spec, route, rules, fault_first, wp_ns))
    read_by_waypoint = set([spec["namespace"], wp_ns])
    for vs in sorted(live.virtualservices, key=object_ref):
        vs_ns = vs["metadata"]["namespace"]
        if vs_ns == spec["namespace"] and is_fault(vs, spec["service"]):
            continue  # this fault's own
        if vs_ns not in read_by_waypoint or not vs_applies_to_mesh(vs) or not (vs.get("spec") or {}).get("http"):
            continue
        if not any(host_matches(h, vs_ns, fqdn) for h in (vs.get("spec") or {}).get("hosts") or []):
            continue
        order = waypoint_order([vs, fault], key, wp_ns)
        if vs not in order:
            continue  # its exportTo hides it from the waypoint
        beside.append(object_ref(vs))
        rules = virtualservice_catches(vs, spec.get("match"))
        if rules:
            problems.append(_virtualservice_problem(spec, vs, rules, order[0] is fault, wp_ns))
    return beside, problems


def _labels(service):
    return {MANAGED_BY: MANAGER, FAULT_FOR: service}


def fault_of(spec):
    """The VirtualService `fault` of a spec."""
    fault = {}
    if spec["delay"]:
        fault["delay"] = {"fixedDelay": spec["delay"]["fixed_delay"],
                          "percentage": {"value": spec["delay"]["percentage"]}}
    if spec["abort"]:
        fault["abort"] = {"httpStatus": spec["abort"]["http_status"],
                          "percentage": {"value": spec["abort"]["percentage"]}}
    return fault


def _route(spec):
    """Where the fault's requests go: the Service itself (no port: the waypoint keeps the request's port,
    listener_waypoint.go getWaypointDestinationCluster), or the given destinations with their weights."""
    if not spec["destinations"]:
        return [{"destination": {"host": spec["service"]}}]
    out = []
    for dest in spec["destinations"]:
        entry = {"destination": {"host": dest["service"]}}
        if dest.get("port"):
            entry["destination"]["port"] = {"number": dest["port"]}
        if dest.get("weight") is not None:
            entry["weight"] = dest["weight"]
        out.append(entry)
    return out


def virtual_service(spec, created_at, catch_all):
    """The fault's VirtualService: host the Service, a route with the fault (limited by the match), and,
    after a matched fault route, a catch-all route without it.

    Why the catch-all: once any VirtualService route exists for a host, the waypoint's route table for it
    holds only the merged VirtualService and HTTPRoute routes, with no default after them
    (listener_waypoint.go buildWaypointInboundHTTPRouteConfig falls back to the plain inbound route only
    when there are none), and Envoy answers a request that matches no route with a local 404
    (envoy source/common/router/router.cc Filter::decodeHeaders: NoRouteFound, sendLocalReply NotFound,
    details route_not_found). Without the catch-all every request the match does not take would fail.
    It is left out when an HTTPRoute already routes the Service (the fault then is limited to what the
    route does not catch): the route's own answer for the rest must stay what it was."""
    http = [{"name": "fault", "fault": fault_of(spec), "route": _route(spec)}]
    matches = virtualservice_matches(spec.get("match"))
    if matches:
        http[0]["match"] = matches
        if catch_all:
            http.append({"name": "no-fault", "route": _route(spec)})
    annotations = {CREATED_AT: format_time(created_at)}
    if spec.get("expires_seconds"):
        annotations[EXPIRES_AT] = format_time(created_at + datetime.timedelta(seconds=spec["expires_seconds"]))
    return {"apiVersion": VIRTUALSERVICE[0], "kind": VIRTUALSERVICE[1],
            "metadata": {"name": spec["name"], "namespace": spec["namespace"], "labels": _labels(spec["service"]),
                         "annotations": annotations},
            "spec": {"hosts": [spec["service"]], "http": http}}


def _ours_in(live, namespace, service=None):
    return [vs for vs in live.virtualservices if vs["metadata"]["namespace"] == namespace and is_fault(vs, service)]


def _live_named(live, namespace, name):
    for vs in live.virtualservices:
        if vs["metadata"]["namespace"] == namespace and vs["metadata"]["name"] == name:
            return vs
    return None


def created_at(existing, now):
    """A fault keeps the time it was made while it lives; a new one, or one whose expiry has passed (it is
    made anew), starts now."""
    if existing is None or is_expired(existing, now):
        return now
    return parse_time(annotation(existing, CREATED_AT)) or now


def plan_fault(spec, live, now, problems):
    """(the VirtualService, routes beside it) of one present fault; problems go to `problems`."""
    ns, name = spec["namespace"], spec["service"]
    service = live.services.get((ns, name))
    ref = ref_of("Service", ns, name)
    if service is None:
        problems.append("%s does not exist: a fault is injected for an existing Service" % ref)
        return None, []
    if (service.get("spec") or {}).get("type") == "ExternalName":
        problems.append("%s is an ExternalName Service: ambient routes it through no waypoint, so no fault "
                        "can apply" % ref)
        return None, []
    problem = silent_fault_problem(service, live)
    if problem:
        problems.append(problem)
    beside, route_problems = other_routing(spec, service, live)
    problems.extend(route_problems)
    for dest in spec["destinations"]:
        if (ns, dest["service"]) not in live.services:
            problems.append("fault for %s: destination Service %s/%s does not exist" % (ref, ns, dest["service"]))
    existing = _live_named(live, ns, spec["name"])
    if existing is not None and not is_fault(existing, name):
        problems.append("%s exists and was not made by ambient.mesh for %s (no labels %s=%s, %s=%s): delete or "
                        "rename it; this module changes only the VirtualServices it made"
                        % (object_ref(existing), ref, MANAGED_BY, MANAGER, FAULT_FOR, name))
        return None, beside
    catch_all = not any(r.startswith(HTTPROUTE[1] + " ") for r in beside)
    return virtual_service(spec, created_at(existing, now), catch_all), beside


def _foreign_left(spec, obj):
    return ("%s was left in place: it has the fault's name but not the labels %s=%s, %s=%s, so ambient.mesh did not "
            "make it and state: absent does not delete it; if it is a fault someone forgot, delete it by hand"
            % (object_ref(obj), MANAGED_BY, MANAGER, FAULT_FOR, spec["service"]))


def plan(specs, live, now, prune_namespaces=()):
    """{"apply", "delete", "prune", "faults", "warnings"}, or AmbientMeshError naming every problem (nothing
    changed)."""
    problems = []
    out = {"apply": [], "delete": [], "prune": [], "faults": [], "warnings": []}
    for spec in specs:
        if spec["state"] == "absent":
            # by the collection's labels only, never by name: a same-named VirtualService of someone else stays
            gone = sorted(_ours_in(live, spec["namespace"], spec["service"]), key=object_ref)
            out["delete"] += gone
            out["faults"].append({"spec": spec, "object": None, "beside": [], "deleted": gone})
            same_name = _live_named(live, spec["namespace"], spec["name"])
            if same_name is not None and same_name not in gone:
                out["warnings"].append(_foreign_left(spec, same_name))
            continue
        obj, beside = plan_fault(spec, live, now, problems)
        stale = sorted([vs for vs in _ours_in(live, spec["namespace"], spec["service"])
                        if obj is None or vs["metadata"]["name"] != obj["metadata"]["name"]], key=object_ref)
        if obj is not None:
            out["apply"].append(obj)
        out["delete"] += stale
        out["faults"].append({"spec": spec, "object": obj, "beside": beside, "deleted": stale})
    if problems:
        raise AmbientMeshError("cannot inject the faults, nothing was changed: %s" % "; ".join(problems),
                               problems=problems)
    keep = set(object_ref(o) for o in out["apply"] + out["delete"])
    for namespace in sorted(set(prune_namespaces)):
        out["prune"] += sorted([vs for vs in _ours_in(live, namespace) if is_expired(vs, now)
                                and object_ref(vs) not in keep], key=object_ref)
    return out


# ---- the run ---------------------------------------------------------------------------------
def delete_all(api, objects, check_mode, concurrency, done=()):
    """Delete concurrently; when some deletions fail, the error says what this run changed before (`done`:
    refs already written) and what it deleted, so a failed result reports changed: true (issue 11 item 3)."""
    answers = run_concurrently(
        lambda o: api.delete(VIRTUALSERVICE[0], VIRTUALSERVICE[1], o["metadata"]["name"],
                             namespace=o["metadata"]["namespace"], dry_run=check_mode), objects, concurrency)
    failures = [(object_ref(o), e) for o, _a, e in answers if e is not None]
    if failures:
        deleted = [] if check_mode else ["%s deleted" % object_ref(o) for o, _a, e in answers if e is None]
        raise batch_error("%d of %d deletions failed" % (len(failures), len(answers)), failures,
                          done=list(done) + deleted)


def _fault_result(entry, results):
    spec, obj = entry["spec"], entry["object"]
    result = {"service": "%s/%s" % (spec["namespace"], spec["service"]), "state": spec["state"],
              "virtualservice": None, "created_at": None, "expires_at": None, "beside": entry["beside"],
              "deleted": [object_ref(o) for o in entry["deleted"]], "changed": bool(entry["deleted"])}
    if obj is not None:
        annotations = obj["metadata"]["annotations"]
        result.update(virtualservice=obj["metadata"]["name"], created_at=annotations.get(CREATED_AT),
                      expires_at=annotations.get(EXPIRES_AT), fault=fault_of(spec))
        result["changed"] = result["changed"] or any(r["changed"] for r in results if r["ref"] == object_ref(obj))
    return result


def run(api, params, check_mode, now=None):
    specs = normalize(params["faults"], params["prune_expired"])
    live = read_live(api, specs, params["concurrency"])
    planned = plan(specs, live, now or utc_now(), params["prune_expired"])

    results = apply_objects(api, planned["apply"], check_mode=check_mode, force=params["force_conflicts"],
                            concurrency=params["concurrency"]) if planned["apply"] else []
    diff = diff_entries(results)
    gone = planned["delete"] + planned["prune"]
    delete_all(api, gone, check_mode, params["concurrency"], done=[r["ref"] for r in results if r["changed"] and not check_mode])
    diff += [diff_entry(o, None) for o in gone]
    result = {"changed": any(r["changed"] for r in results) or bool(gone),
              "faults": [_fault_result(f, results) for f in planned["faults"]],
              "objects": summarize(results),
              "deleted": [object_ref(o) for o in planned["delete"]],
              "pruned": [object_ref(o) for o in planned["prune"]],
              "diff": module_diff(diff)}
    if planned["warnings"]:
        result["warnings"] = planned["warnings"]
    return result
