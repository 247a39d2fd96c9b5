# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""traffic_split: weighted splits the ambient way.

One ClusterIP Service per version (the base Service's ports and selector plus the version's labels)
and an HTTPRoute whose parent is the base Service itself (the GAMMA mesh pattern), through a waypoint.
A VirtualService + DestinationRule subset split in an ambient namespace without a waypoint is silently
ignored and traffic comes out by endpoint count: this module refuses to build a split no waypoint would
enforce, and refuses next to a VirtualService or DestinationRule that already routes the host.

The planner (normalize, plan) is pure: parameters and live objects in, objects to apply, objects to
delete, problems and warnings out. run() reads by LIST, applies in one batch and waits for istiod's
route status.
"""


from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import (
    NAMESPACES_PER_LIST,
    apply_objects,
    diff_entries,
    summarize,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import DOMAIN, host_matches
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    GATEWAY_MANAGED,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.kinds import SERVICE, HTTPROUTE, GATEWAY, VIRTUALSERVICE, DESTINATIONRULE, WORKLOADS, CRD
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of, object_ref, ref_of
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import read_all, run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._objects.labels import valid_dns_label, valid_label_value
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, describe, wait_for
from ansible_collections.ambient.mesh.plugins.module_utils._istio.waypoint_binding import serving_problem, waypoint_namespace
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_order import waypoint_order
from ansible_collections.ambient.mesh.plugins.module_utils._istio import route_resilience as resilience


# What the collection puts on the objects it makes for a split, so that absent and pruning remove those
# and only those.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "ambient.mesh"
SPLIT_OF = "ambient.mesh/traffic-split"

# Gateway API standard channel (v1.2-v1.5): backendRefs per rule, and the weight range.
MAX_BACKENDS = 16
MATCH_FIELDS = ("headers", "method", "path", "queryParams")
MAX_WEIGHT = 1000000
# istiod's controller name in the status of the routes it programs (pilot/pkg/features/pilot.go
# ManagedGatewayController), and the message of ResolvedWaypoints when a waypoint label is found
# (Istio 1.30.3 pilot/pkg/config/kube/gateway/conditions.go createRouteStatus).
CONTROLLER = "istio.io/gateway-controller"
WAYPOINTS_RESOLVED = "All waypoints resolved"
ROUTE_FIXES = {
    "NoMatchingParent": "the parent Service is gone: create it again (or fix service:), then run this task again",
    "BackendNotFound": "a backend Service is missing (deleted by someone else?): run this task again to recreate "
                       "the per-version Services, or fix versions[].service",
    "RefNotPermitted": "a backend in another namespace needs a ReferenceGrant there",
    "InvalidKind": "a backendRef names a kind istiod does not route to: use Services",
    "InvalidDestination": "a backendRef is invalid: check versions[].service and ports",
}


class Problems(object):
    """Problems that stop the run before any change, and warnings that do not."""

    def __init__(self):
        self.problems = []
        self.warnings = []

    def fail_if_any(self, what):
        if self.problems:
            raise AmbientMeshError("%s: %s" % (what, "; ".join(self.problems)), problems=self.problems,
                                   warnings=self.warnings)


# ---- parameters ------------------------------------------------------------------------------
def normalize(items, problems):
    """The splits with defaults filled in; problems of the parameters alone go to `problems`."""
    out, seen = [], set()
    for index, item in enumerate(items or []):
        spec = dict(item)
        key = (spec.get("namespace"), spec.get("service"))
        where = "split %d (%s/%s)" % (index, key[0], key[1])
        for field in ("service", "namespace"):
            if not valid_dns_label(spec.get(field)):
                problems.problems.append("%s: %s %r is not a valid name" % (where, field, spec.get(field)))
        if key in seen:
            problems.problems.append("%s is listed twice: one split per Service" % where)
        seen.add(key)
        spec["route_name"] = spec.get("route_name") or spec.get("service")
        if spec.get("route_name") and not valid_dns_subdomain(spec["route_name"]):
            problems.problems.append("%s: route_name %r is not a valid name: it must be a DNS-1123 subdomain (lowercase "
                                     "letters, digits, '-' and '.')" % (where, spec["route_name"]))
        spec["ports"] = list(spec.get("ports") or [])
        spec["matches"] = list(spec.get("matches") or [])
        _check_matches(spec["matches"], where, problems)
        spec["versions"] = [dict(v) for v in spec.get("versions") or []]
        if spec.get("state", "present") == "present":
            _check_versions(spec, where, problems)
            spec["rule_fields"] = resilience.check(spec, where, problems.problems)
        out.append(spec)
    return out


def valid_dns_subdomain(value):
    """A Kubernetes object name (RFC 1123 subdomain): dot-separated DNS labels, 253 characters at most."""
    return isinstance(value, str) and len(value) <= 253 and all(valid_dns_label(part) for part in value.split("."))


def _check_matches(matches, where, problems):
    """The fields of Gateway API's HTTPRouteMatch (v1.5.1 standard channel CRD httproutes.gateway.networking.k8s.io,
    spec.rules[].matches[]: headers, method, path, queryParams; path: type and value). The API server prunes
    unknown fields, so a misspelt key (VirtualService's uri, say) would leave an empty match, which takes every
    request: refused here, naming the key."""
    for index, match in enumerate(matches):
        what = "%s: matches[%d]" % (where, index)
        if not isinstance(match, dict):
            problems.problems.append("%s must be a mapping (path, headers, queryParams, method), not %r" % (what, match))
            continue
        unknown = sorted(set(match) - set(MATCH_FIELDS))
        if unknown:
            problems.problems.append("%s has %s: an HTTPRoute match takes %s" % (what, ", ".join(unknown), ", ".join(MATCH_FIELDS)))
        path = match.get("path")
        if path is not None and (not isinstance(path, dict) or set(path) - set(["type", "value"])):
            problems.problems.append("%s.path must be a mapping of type (Exact, PathPrefix, RegularExpression) and value, "
                                     "for example {type: PathPrefix, value: /canary}, not %r" % (what, path))


def _check_versions(spec, where, problems):
    versions = spec["versions"]
    if not versions:
        problems.problems.append("%s: give versions (each a name and a weight)" % where)
        return
    if len(versions) > MAX_BACKENDS:
        problems.problems.append("%s has %d versions; an HTTPRoute rule takes at most %d backends"
                                 % (where, len(versions), MAX_BACKENDS))
    names = set()
    for version in versions:
        name = version.get("name")
        if name in names:
            problems.problems.append("%s: version %s is listed twice" % (where, name))
        names.add(name)
        weight = version.get("weight")
        if not isinstance(weight, int) or weight < 0 or weight > MAX_WEIGHT:
            problems.problems.append("%s: version %s has weight %r; a weight is an integer from 0 to %d (shares are "
                                     "weight / sum of weights)" % (where, name, weight, MAX_WEIGHT))
        if version.get("service") and version.get("labels"):
            problems.problems.append("%s: version %s gives both labels and service; use one" % (where, name))
        if not version.get("service"):
            version["labels"] = dict(version.get("labels") or {"version": name})
            generated = "%s-%s" % (spec.get("service"), name)
            if not valid_dns_label(generated):
                problems.problems.append("%s: version %s would make the Service %r, which is not a valid Service name; "
                                         "use a shorter lowercase version name or versions[].service"
                                         % (where, name, generated))
            for label, value in version["labels"].items():
                if not valid_label_value(str(value)):
                    problems.problems.append("%s: version %s: label %s=%r is not a valid label value"
                                             % (where, name, label, value))
                version["labels"][label] = str(value)
    weights = [v.get("weight") for v in versions]
    if all(isinstance(w, int) for w in weights) and sum(weights) == 0:
        problems.problems.append("%s: all weights are 0, so no request would go anywhere; give at least one version "
                                 "a weight above 0" % where)
    fallback = spec.get("unmatched_version")
    if fallback is not None:
        if not spec["matches"]:
            problems.problems.append("%s: unmatched_version needs matches" % where)
        if fallback not in names:
            problems.problems.append("%s: unmatched_version %s is not one of the versions (%s)"
                                     % (where, fallback, ", ".join(sorted(str(n) for n in names))))


# ---- live state ------------------------------------------------------------------------------
class Live(object):
    """The objects a plan needs, indexed; every field is a plain list or dict (tests build it by hand)."""

    def __init__(self, namespaces=(), services=(), gateways=(), workloads=(), virtualservices=(),
                 destinationrules=(), httproutes=(), route_fields=None):
        self.namespaces = dict((n["metadata"]["name"], n) for n in namespaces)
        self.services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in services)
        self.gateways = dict(((g["metadata"]["namespace"], g["metadata"]["name"]), g) for g in gateways)
        self.workloads = list(workloads)
        self.virtualservices = list(virtualservices)
        self.destinationrules = list(destinationrules)
        self.httproutes = list(httproutes)
        # the resilience fields of the cluster's HTTPRoute CRD (resilience.rule_fields); None: not read or no CRD,
        # False: it could not be read
        self.route_fields = route_fields


def _list_in(api, api_version, kind, namespaces, required=True):
    """Objects of a kind in these namespaces: a LIST per namespace, or one cluster-wide when many."""
    namespaces = sorted(namespaces)
    if len(namespaces) > NAMESPACES_PER_LIST:
        return [o for o in api.list(api_version, kind, required=required)
                if o["metadata"].get("namespace") in namespaces]
    out = []
    for namespace in namespaces:
        out += api.list(api_version, kind, namespace=namespace, required=required)
    return out


def read_live(api, specs, require_waypoint, concurrency):
    """Everything the plan reads, by LIST only, concurrently."""
    namespaces = set(s["namespace"] for s in specs)
    present = any(s["state"] == "present" for s in specs)
    reads = {
        "namespaces": lambda: api.list("v1", "Namespace"),
        "services": lambda: _list_in(api, SERVICE[0], SERVICE[1], namespaces),
        "httproutes": lambda: _list_in(api, HTTPROUTE[0], HTTPROUTE[1], namespaces),
    }
    if present:
        # a waypoint may live in another namespace; a VirtualService anywhere may name the host by FQDN
        reads["virtualservices"] = lambda: api.list(*VIRTUALSERVICE, required=False)
        reads["destinationrules"] = lambda: api.list(*DESTINATIONRULE, required=False)
        reads["workloads"] = lambda: sum((_list_in(api, w[0], w[1], namespaces) for w in WORKLOADS), [])
        if require_waypoint:
            reads["gateways"] = lambda: api.list(*GATEWAY)
        if any(s.get("rule_fields") for s in specs):
            reads["route_fields"] = lambda: resilience.read_rule_fields(api, CRD)
    return Live(**read_all(reads, concurrency))


# ---- the plan --------------------------------------------------------------------------------
def ours(obj, service):
    lbl = labels_of(obj)
    return lbl.get(MANAGED_BY) == MANAGER and lbl.get(SPLIT_OF) == service


def _managed_labels(service):
    return {MANAGED_BY: MANAGER, SPLIT_OF: service}


def copy_ports(ports):
    """The base Service's ports as an apply configuration: what a person writes (name, port, and
    targetPort, protocol and appProtocol only where they are not the defaults)."""
    out = []
    for port in ports:
        entry = {}
        if port.get("name"):
            entry["name"] = port["name"]
        entry["port"] = port["port"]
        if port.get("targetPort") not in (None, port["port"]):
            entry["targetPort"] = port["targetPort"]
        if port.get("protocol") not in (None, "TCP"):
            entry["protocol"] = port["protocol"]
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        out.append(entry)
    return out


def version_service(base, name, selector):
    """The ClusterIP Service of one version: the base Service's ports, its selector plus the version's labels."""
    meta = base["metadata"]
    return {"apiVersion": SERVICE[0], "kind": SERVICE[1],
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": _managed_labels(meta["name"])},
            "spec": {"type": "ClusterIP", "selector": selector,
                     "ports": copy_ports((base.get("spec") or {}).get("ports") or [])}}


def route_name(spec, port):
    return spec["route_name"] if len(spec["ports"]) == 1 else "%s-%d" % (spec["route_name"], port)


def http_route(spec, port, backends):
    """The HTTPRoute of one port: parent the Service itself (group "", kind Service, port), backends the
    per-version Services with their weights; with matches, those first, then the unmatched version."""
    refs = [{"name": b["service"], "port": b["ports"][port], "weight": b["weight"]} for b in backends]
    rule = dict(spec.get("rule_fields") or {}, backendRefs=refs)
    rules = [rule]
    if spec["matches"]:
        rule = dict(rule, matches=spec["matches"])
        rules = [rule]
        fallback = [b for b in backends if b["version"] == spec.get("unmatched_version")]
        if fallback:
            rules.append(dict(spec.get("rule_fields") or {},
                              backendRefs=[{"name": fallback[0]["service"], "port": fallback[0]["ports"][port]}]))
    return {"apiVersion": HTTPROUTE[0], "kind": HTTPROUTE[1],
            "metadata": {"name": route_name(spec, port), "namespace": spec["namespace"],
                         "labels": _managed_labels(spec["service"])},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": spec["service"], "port": port}],
                     "rules": rules}}


def selector_text(selector):
    return ",".join("%s=%s" % kv for kv in sorted(selector.items()))


def _matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def workload_check(spec, backends, live, problems):
    """A version whose selector matches no pod template in the namespace gets no pods: refused when the
    namespace has workloads (a typo or an undeployed version), a warning when it has none yet (the apps
    come later in the same play) or when the version's weight is 0 (it gets no traffic anyway)."""
    templates = [(w["kind"], w["metadata"]["name"],
                  ((((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}))
                 for w in live.workloads if w["metadata"].get("namespace") == spec["namespace"]
                 and GATEWAY_MANAGED not in labels_of(w)]  # istiod's waypoint and gateway Deployments are no app
    if not templates:
        text = ("namespace %s has no Deployment or StatefulSet yet, so its per-version Services select no pods until "
                "the versions are deployed (a warning, not a refusal: apps are often deployed after their routing)"
                % spec["namespace"])
        if text not in problems.warnings:
            problems.warnings.append(text)
        return
    for backend in backends:
        selector = backend["selector"]
        if not selector or any(_matches(selector, t[2]) for t in templates):
            continue
        text = ("version %s of %s/%s: selector %s matches no pod template of a Deployment or StatefulSet in %s"
                % (backend["version"], spec["namespace"], spec["service"], selector_text(selector), spec["namespace"]))
        if backend["weight"] == 0:
            problems.warnings.append(text + " (weight 0, so no traffic goes there yet)")
        else:
            problems.problems.append(text + " (%s): fix versions[].labels, or deploy the version first"
                                     % ", ".join("%s %s" % t[:2] for t in templates))


def unenforced_split_problem(base, live):
    """Why no waypoint would enforce a split of this Service, or None (waypoint_binding.serving_problem: the
    use-waypoint label on the Service or else its namespace, the waypoint Gateway Programmed, and istiod's
    istio.io/WaypointBound=True)."""
    problem = serving_problem(base, live.namespaces.get(base["metadata"]["namespace"]), live.gateways)
    if problem is None:
        return None
    trap = "an HTTPRoute would be accepted but its weights ignored, and traffic would split by endpoint count"
    later = "or set require_waypoint: false if a later task of the play binds it"
    return "%s: %s; %s, %s" % (problem[0], trap, problem[1], later)


def conflicts(spec, live):
    """Mesh VirtualServices that route the Service's host and DestinationRules that split it into subsets
    (conflict_text says which configuration a waypoint applies first)."""
    fqdn = "%s.%s.svc.%s" % (spec["service"], spec["namespace"], DOMAIN)
    out = []
    for vs in live.virtualservices:
        vs_spec = vs.get("spec") or {}
        gateways = vs_spec.get("gateways")
        if gateways and "mesh" not in gateways:
            continue  # ingress only: not in the way of a mesh route
        if not any(vs_spec.get(k) for k in ("http", "tcp", "tls")):
            continue
        if any(host_matches(h, vs["metadata"]["namespace"], fqdn) for h in vs_spec.get("hosts") or []):
            out.append(vs)
    for dr in live.destinationrules:
        dr_spec = dr.get("spec") or {}
        if dr_spec.get("subsets") and dr_spec.get("host") and \
                host_matches(dr_spec["host"], dr["metadata"]["namespace"], fqdn):
            out.append(dr)
    return out


def conflict_text(spec, found, objects, live):
    """For each conflict, what a waypoint does with it beside the split's HTTPRoute (Istio 1.30.3
    push_context.go VirtualServicesForGateway, _mesh_info.findings.waypoint_order): a VirtualService private to
    the waypoint's namespace or exported to it comes first and wins; a public one comes after the HTTPRoute
    when the waypoint is in the Service's namespace, else the older of the two comes first. A
    DestinationRule's subsets route nothing themselves."""
    key = (spec["namespace"], spec["service"])
    base = live.services.get(key)
    wp_ns = waypoint_namespace(base, live.namespaces.get(spec["namespace"])) if base else spec["namespace"]
    route = next((o for o in objects if o.get("kind") == HTTPROUTE[1]), None)
    if route is not None:
        current = next((r for r in live.httproutes if r["metadata"]["namespace"] == route["metadata"]["namespace"]
                        and r["metadata"]["name"] == route["metadata"]["name"]), None)
        route = dict(route, metadata=dict(route["metadata"], creationTimestamp=(
            (current or {}).get("metadata", {}).get("creationTimestamp") or "9999-12-31T23:59:59Z")))
    out = []
    for obj in found:
        if obj.get("kind") == DESTINATIONRULE[1]:
            out.append("%s defines subsets of the host (a VirtualService split's half)" % object_ref(obj))
            continue
        order = waypoint_order([route, obj] if route is not None else [obj], key, wp_ns)
        if obj not in order:
            out.append("%s is not visible to the waypoint (exportTo) but routes the host elsewhere" % object_ref(obj))
        elif order[0] is obj:
            out.append("%s comes before the split's HTTPRoute at the waypoint (namespace %s) and wins: its rules "
                       "take the requests they match and the split never sees them" % (object_ref(obj), wp_ns))
        else:
            out.append("the split's HTTPRoute comes before %s at the waypoint (namespace %s) and wins: the "
                       "VirtualService's rules never apply to the requests the split takes" % (object_ref(obj), wp_ns))
    return "; ".join(out)


def _route_ports(spec, base, where, problems):
    have = [p["port"] for p in (base.get("spec") or {}).get("ports") or []]
    if spec["ports"]:
        missing = [p for p in spec["ports"] if p not in have]
        if missing:
            problems.problems.append("%s has no port %s (it has %s): fix ports"
                                     % (where, ", ".join(str(p) for p in missing), ", ".join(str(p) for p in have)))
            return None
        return spec["ports"]
    if len(have) == 1:
        return have
    problems.problems.append("%s has %s: set ports to the one(s) to split"
                             % (where, "ports %s" % ", ".join(str(p) for p in have) if have else "no ports"))
    return None


def _backend_port(svc, port):
    have = [p["port"] for p in (svc.get("spec") or {}).get("ports") or []]
    if port in have:
        return port
    return have[0] if len(have) == 1 else None


def plan_split(spec, live, require_waypoint, problems):
    """(objects to apply, backends) of one present split; problems and warnings go to `problems`."""
    ns, name = spec["namespace"], spec["service"]
    where = ref_of("Service", ns, name)
    base = live.services.get((ns, name))
    if base is None:
        problems.problems.append("%s does not exist: create it first (the split routes its traffic and the "
                                 "per-version Services copy its selector and ports)" % where)
        return [], []
    if (base.get("spec") or {}).get("type") == "ExternalName":
        problems.problems.append("%s is an ExternalName Service: ambient does not route it through a waypoint"
                                 % where)
        return [], []
    if require_waypoint:
        problem = unenforced_split_problem(base, live)
        if problem:
            problems.problems.append(problem)
    ports = _route_ports(spec, base, where, problems)
    if ports is None:
        return [], []
    spec["ports"] = ports
    selector = (base.get("spec") or {}).get("selector") or {}
    objects, backends = [], []
    for version in spec["versions"]:
        backend = {"version": version["name"], "weight": version["weight"], "ports": {}}
        if version.get("service"):
            svc = live.services.get((ns, version["service"]))
            backend.update(service=version["service"], made=False)
            if svc is None:
                problems.problems.append("version %s of %s: Service %s/%s does not exist: create it or use labels"
                                         % (version["name"], where, ns, version["service"]))
                continue
            backend["selector"] = (svc.get("spec") or {}).get("selector") or {}
        else:
            if not selector:
                problems.problems.append("%s has no selector, so no per-version Service can be derived from it: name "
                                         "existing Services with versions[].service" % where)
                return [], []
            wanted = dict(selector, **version["labels"])
            generated = "%s-%s" % (name, version["name"])
            backend.update(service=generated, selector=wanted, made=True)
            svc = live.services.get((ns, generated))
            if svc is not None and not ours(svc, name):
                if ((svc.get("spec") or {}).get("selector") or {}) != wanted:
                    problems.problems.append(
                        "Service %s/%s exists and was not made by ambient.mesh (selector %s, not %s): name it in "
                        "versions[].service to use it as it is, or delete it"
                        % (ns, generated, selector_text((svc.get("spec") or {}).get("selector") or {}),
                           selector_text(wanted)))
                    continue
                backend["made"] = False  # made by hand as this module would make it: used as it is
            else:
                svc = version_service(base, generated, wanted)
                objects.append(svc)
        for port in ports:
            backend["ports"][port] = _backend_port(svc, port)
            if backend["ports"][port] is None:
                problems.problems.append("version %s of %s: Service %s has no port %d and more than one other: "
                                         "give it port %d" % (version["name"], where, backend["service"], port, port))
        backends.append(backend)
    workload_check(spec, backends, live, problems)
    problem = resilience.crd_problem(live.route_fields, spec.get("rule_fields") or {}, where)
    if problem:
        problems.problems.append(problem)
    warning = resilience.unchecked_warning(live.route_fields, spec.get("rule_fields") or {}, where)
    if warning:
        problems.warnings.append(warning)
    if len(backends) == len(spec["versions"]) and all(None not in b["ports"].values() for b in backends):
        objects += [http_route(spec, port, backends) for port in ports]
    return objects, backends


def stale(spec, keep, live):
    """Routes and Services this module made for the split that the plan no longer wants (all of them when
    the split is absent), routes first."""
    ns, name = spec["namespace"], spec["service"]
    keep = set((o["kind"], o["metadata"]["name"]) for o in keep)
    routes = [r for r in live.httproutes if r["metadata"]["namespace"] == ns and ours(r, name)
              and ("HTTPRoute", r["metadata"]["name"]) not in keep]
    services = [s for (s_ns, _n), s in sorted(live.services.items()) if s_ns == ns and ours(s, name)
                and ("Service", s["metadata"]["name"]) not in keep]
    return sorted(routes, key=object_ref) + services


def plan(specs, live, require_waypoint=True, remove_conflicts=False):
    """{"apply", "delete", "conflicts", "splits", "warnings"} or AmbientMeshError with every problem."""
    problems = Problems()
    out = {"apply": [], "delete": [], "conflicts": [], "splits": []}
    for spec in specs:
        if spec["state"] == "absent":
            out["delete"] += stale(spec, [], live)
            out["splits"].append({"spec": spec, "objects": [], "backends": []})
            continue
        objects, backends = plan_split(spec, live, require_waypoint, problems)
        found = conflicts(spec, live)
        if found and not remove_conflicts:
            problems.problems.append(
                "%s already routes or splits %s/%s: %s; set remove_conflicts: true to delete %s, as the lab did by "
                "hand" % (" and ".join(object_ref(o) for o in found), spec["namespace"], spec["service"],
                          conflict_text(spec, found, objects or [], live), "it" if len(found) == 1 else "them"))
        out["conflicts"] += [o for o in found if o not in out["conflicts"]]
        out["apply"] += objects
        out["delete"] += stale(spec, objects, live)
        out["splits"].append({"spec": spec, "objects": objects, "backends": backends})
    problems.fail_if_any("cannot set up the traffic splits")
    out["warnings"] = problems.warnings
    return out


# ---- route status ----------------------------------------------------------------------------
def parent_key(route):
    ref = route["spec"]["parentRefs"][0]
    return {"kind": "Service", "name": ref["name"], "port": ref["port"]}


def route_status(route, parent):
    """What istiod reported for one parent: Accepted, ResolvedRefs and ResolvedWaypoints."""
    out = {"route": route["metadata"]["name"], "port": parent["port"]}
    for cond_type, key in (("Accepted", "accepted"), ("ResolvedRefs", "resolved_refs")):
        met, cond = condition_state(route, cond_type, parent=parent)
        out[key] = met
        out[key + "_reason"] = describe(cond)
    waypoints = condition_state(route, "ResolvedWaypoints", parent=parent)[1]
    out["waypoints"] = waypoints.get("message") if waypoints else None
    return out


def route_problem(route, parent):
    """Why a route is not working for a parent, with a fix; None when Accepted and ResolvedRefs are True and current."""
    where = "%s (parent Service %s port %s)" % (object_ref(route), parent["name"], parent["port"])
    found = [condition_state(route, t, parent=parent) for t in ("Accepted", "ResolvedRefs")]
    if all(cond is None for _met, cond in found):
        return ("%s: istiod has not reported on it - is istiod running, and does its revision serve namespace %s?"
                % (where, route["metadata"]["namespace"]))
    problems = []
    for met, cond in found:
        if met:
            continue
        text = "%s: %s" % (where, describe(cond))
        if cond is None:
            text += " - not reported yet"
        elif cond.get("status") == "True":
            text += " - not for the current generation yet"
        elif cond.get("reason") in ROUTE_FIXES:
            text += " - fix: " + ROUTE_FIXES[cond["reason"]]
        problems.append(text)
    return "; ".join(problems) or None


def wait_routes(api, routes, timeout):
    """Accepted and ResolvedRefs True, for the current generation, on every route; read by LIST."""
    namespaces = set(r["metadata"]["namespace"] for r in routes)
    wanted = [((r["metadata"]["namespace"], r["metadata"]["name"]), parent_key(r)) for r in routes]

    def read():
        return dict(((r["metadata"]["namespace"], r["metadata"]["name"]), r)
                    for r in _list_in(api, HTTPROUTE[0], HTTPROUTE[1], namespaces))

    def predicate(live):
        pending = []
        for key, parent in wanted:
            route = live.get(key) or {"kind": HTTPROUTE[1], "metadata": {"namespace": key[0], "name": key[1]}}
            problem = route_problem(route, parent)
            if problem:
                pending.append(problem)
        return not pending, "; ".join(pending)

    return wait_for(read, predicate, timeout, "istiod to accept the routes", interval=1.0)


# ---- the run ---------------------------------------------------------------------------------
def _delete_all(api, objects, check_mode, concurrency, done=()):
    """Delete concurrently, HTTPRoutes before Services, so no route is left pointing at a deleted backend.
    When some deletions fail, the error says what this run changed before (`done`: refs already written) and
    what it deleted, so a failed result reports changed: true (issue 11 item 3)."""
    failures, deleted, tried = [], [], 0
    for kinds in ((HTTPROUTE[1], VIRTUALSERVICE[1], DESTINATIONRULE[1]), (SERVICE[1],)):
        answers = run_concurrently(
            lambda o: api.delete(o["apiVersion"], o["kind"], o["metadata"]["name"],
                                 namespace=o["metadata"]["namespace"], dry_run=check_mode),
            [o for o in objects if o["kind"] in kinds], concurrency)
        tried += len(answers)
        failures += [(object_ref(o), e) for o, _a, e in answers if e is not None]
        deleted += [] if check_mode else ["%s deleted" % object_ref(o) for o, _a, e in answers if e is None]
        if failures:
            break  # a Service stays while a route that may point at it could not be deleted
    if failures:
        raise batch_error("%d of %d deletions failed" % (len(failures), tried), failures, done=list(done) + deleted)


def _split_result(split, results, deleted, statuses):
    spec = split["spec"]
    mine = set(object_ref(o) for o in split["objects"])
    route_refs = [object_ref(o) for o in split["objects"] if o["kind"] == HTTPROUTE[1]]
    gone = [object_ref(o) for o in deleted if o["metadata"]["namespace"] == spec["namespace"]
            and ours(o, spec["service"])]
    changed = any(r["changed"] for r in results if r["ref"] in mine) or bool(gone)
    return {"service": "%s/%s" % (spec["namespace"], spec["service"]), "state": spec["state"],
            "routes": [r.split("/", 1)[1] for r in route_refs],
            "services": [b["service"] for b in split["backends"]],
            "weights": dict((b["version"], b["weight"]) for b in split["backends"]),
            "policy": resilience.result(spec.get("rule_fields")),
            "status": [s for s in statuses if ref_of(HTTPROUTE[1], spec["namespace"], s["route"]) in route_refs],
            "deleted": gone, "changed": changed}


def run(api, params, check_mode):
    problems = Problems()
    specs = normalize(params["splits"], problems)
    problems.fail_if_any("invalid splits")
    live = read_live(api, specs, params["require_waypoint"], params["concurrency"])
    planned = plan(specs, live, params["require_waypoint"], params["remove_conflicts"])

    results = apply_objects(api, planned["apply"], check_mode=check_mode, force=params["force_conflicts"],
                            concurrency=params["concurrency"]) if planned["apply"] else []
    diff = diff_entries(results)
    removed = planned["conflicts"] if params["remove_conflicts"] else []
    done = [] if check_mode else [r["ref"] for r in results if r["changed"]]
    for objects in (removed, planned["delete"]):
        _delete_all(api, objects, check_mode, params["concurrency"], done=done)
        done += [] if check_mode else ["%s deleted" % object_ref(o) for o in objects]
        diff += [diff_entry(o, None) for o in objects]

    routes = [r["after"] for r in results if r["kind"] == HTTPROUTE[1]]
    warnings = list(planned["warnings"])
    if params["wait"] and not check_mode and routes:
        by_key = wait_routes(api, routes, params["wait_timeout"])
        routes = [by_key[(r["metadata"]["namespace"], r["metadata"]["name"])] for r in routes]
    # in check mode the routes are the server's dry-run answers: no status of theirs to report
    statuses = [] if check_mode else [route_status(r, parent_key(r)) for r in routes if r]
    for status in statuses:
        if status["waypoints"] not in (None, WAYPOINTS_RESOLVED):
            warnings.append("HTTPRoute %s: istiod says: %s (the split is not enforced until a waypoint serves "
                            "its Service)" % (status["route"], status["waypoints"]))

    splits = [_split_result(s, results, planned["delete"], statuses) for s in planned["splits"]]
    result = {"changed": any(r["changed"] for r in results) or bool(removed) or bool(planned["delete"]),
              "splits": splits, "objects": summarize(results),
              "removed": [object_ref(o) for o in removed], "deleted": [object_ref(o) for o in planned["delete"]],
              "diff": module_diff(diff)}
    if warnings:
        result["warnings"] = warnings
    return result
